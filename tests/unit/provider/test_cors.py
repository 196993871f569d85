"""Cross-origin requests: any page may call the provider (its API is public and signed). Preflights of
its routes are answered with the route's methods and the headers clients send; every answer, errors
included, says ``Access-Control-Allow-Origin: *``; an OPTIONS that is no preflight stays 405."""

from __future__ import annotations

from tests.unit.provider.scenario import Scenario

PAGE = "http://127.0.0.1:8040"
JOB = "0x" + "ab" * 32


def preflight(scenario: Scenario, path: str, method: str, headers: str = "content-type"):
    return scenario.client.options(
        path,
        headers={"Origin": PAGE, "Access-Control-Request-Method": method,
                 "Access-Control-Request-Headers": headers},
    )  # fmt: skip


def test_a_preflight_of_a_post_json_route_is_allowed(scenario: Scenario) -> None:
    for path in ("/api/v1/access", "/api/v1/fees", "/api/v1/compute"):
        response = preflight(scenario, path, "POST")
        assert response.status_code == 204, path
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "POST"
        allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert "content-type" in allowed
        assert int(response.headers["Access-Control-Max-Age"]) > 0
        assert response.get_data() == b""


def test_a_preflight_of_a_job_route_allows_its_methods_and_the_bearer_token(scenario: Scenario) -> None:
    response = preflight(scenario, f"/api/v1/compute/{JOB}", "DELETE", "authorization")
    assert response.status_code == 204
    assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "DELETE"}
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert preflight(scenario, f"/api/v1/compute/{JOB}/result", "GET", "authorization").status_code == 204


def test_a_preflight_for_a_method_the_route_lacks_is_refused(scenario: Scenario) -> None:
    response = preflight(scenario, "/api/v1/access", "PUT")
    assert (response.status_code, response.json["error"]["code"]) == (405, "method_not_allowed")
    assert "Access-Control-Allow-Methods" not in response.headers
    response = preflight(scenario, "/api/v1/nothing", "POST")
    assert (response.status_code, response.json["error"]["code"]) == (404, "not_found")


def test_every_answer_allows_any_origin_errors_included(scenario: Scenario) -> None:
    c = scenario.client
    info = c.get("/api/v1/info", headers={"Origin": PAGE})
    assert info.status_code == 200 and info.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in info.headers["Access-Control-Expose-Headers"]
    refused = c.post("/api/v1/access", json={"request": {}}, headers={"Origin": PAGE})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "invalid_request"
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    # Never credentials: the wildcard and credentials cannot go together.
    assert "Access-Control-Allow-Credentials" not in refused.headers


def test_an_options_that_is_no_preflight_stays_405(scenario: Scenario) -> None:
    response = scenario.client.options("/api/v1/access")
    assert (response.status_code, response.json["error"]["code"]) == (405, "method_not_allowed")
