"""What a failed or rejected job may tell its consumer: a reason code from a fixed list, each with
a fixed message (docs/privacy.md, "Nothing else carries data out").

A job's outcome is read by the buyer, and whatever the algorithm controls in it is a channel out of
the sandbox: an exit status is a byte of the algorithm's choosing, an output's file name is 255 of
them, the epsilon a DP job claims is a float. So when the algorithm's run or its outputs decide the
outcome, the job record gets only one of the codes below and its message, never the exit status,
file names, counts or any other text or number that came from the run. Failures of the provider
itself (staging, the store, the chain) carry their own messages: nothing in them comes from the
algorithm.
"""

from __future__ import annotations

#: Outcomes the algorithm's run decides: the sandbox's reasons and the output policy's verdicts.
REASONS: dict[str, str] = {
    # the run
    "algorithm_failed": "the algorithm did not finish successfully",
    "algorithm_killed": "the algorithm was killed",
    "wall_time_exceeded": "the algorithm ran past the wall-time limit",
    "cpu_time_exceeded": "the algorithm used more CPU time than allowed",
    "memory_exceeded": "the algorithm used more memory than allowed",
    "output_too_large": "the algorithm wrote more output than allowed",
    # the output policy
    "file_type_not_allowed": "an output is not of an allowed type, or not a valid file of its type",
    "pickle_not_allowed": "an output is a pickle; pickles are never released",
    "too_many_files": "the algorithm wrote more output files than allowed",
    "special_file": "an output is not a regular file",
    "invalid_json": "an output is not strict JSON",
    "invalid_safetensors": "an output is not a valid safetensors file",
    "csv_too_large": "a CSV output is larger than allowed",
    "raw_rows_in_output": "an output holds raw rows of the dataset",
    "raw_rows_in_logs": "the logs hold raw rows of the dataset",
    "epsilon_not_declared": "a DP job must write metrics.json with a finite epsilon_spent",
    "epsilon_exceeded": "the job reports spending more epsilon than it declared",
    "rejected": "the outputs break the output policy",
}

#: The sandbox's stop reasons and the codes they become.
SANDBOX_REASONS: dict[str, str] = {
    "wall_time": "wall_time_exceeded",
    "cpu_time": "cpu_time_exceeded",
    "memory": "memory_exceeded",
    "output_full": "output_too_large",
    "file_size": "output_too_large",
    "killed": "algorithm_killed",
}


def reason(code: str | None) -> tuple[str, str]:
    """(code, message) for an outcome the algorithm decided; an unknown code becomes the generic
    one of its kind, so that no text ever passes through from the run."""
    if code in REASONS:
        return code, REASONS[code]
    return "rejected", REASONS["rejected"]


def sandbox_reason(stop_reason: str) -> tuple[str, str]:
    """(code, message) of a run that did not exit 0: never the exit status itself."""
    return reason(SANDBOX_REASONS.get(stop_reason, "algorithm_failed"))


__all__ = ["REASONS", "SANDBOX_REASONS", "reason", "sandbox_reason"]
