"""What the provider and its workers share about compute jobs: the job database (:mod:`.store`) and
the queue that carries jobs to the workers (:mod:`.queue`). The provider creates a job and sends its
task by name; a worker runs it; neither imports the other."""
