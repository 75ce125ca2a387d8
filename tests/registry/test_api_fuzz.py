"""No client input makes the API answer 5xx: arbitrary JSON bodies, query values and ids."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steward.auth.roles import Role

from ._support import CHAIR, Api, new_tool

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "name",
        "to",
        "reason",
        "withdrawal",
        "gate",
        "answers",
        "verdict",
        "version",
        "outcome",
        "priority_id",
        "product_name",
        "email",
        "password",
        "patient_ids",
        "source",
    ]
)
BODIES = JSON | st.dictionaries(FIELDS, JSON, max_size=4)
PATHS = st.sampled_from(
    [
        ("POST", "/tools"),
        ("POST", "/tools/{tool}/transitions"),
        ("POST", "/tools/{tool}/versions"),
        ("POST", "/tools/{tool}/signoffs"),
        ("POST", "/tools/{tool}/evaluations"),
        ("POST", "/tools/{tool}/hazards"),
        ("PUT", "/tools/{tool}/assessments/dtac"),
        ("PUT", "/tools/{tool}/fallback-plan"),
        ("GET", "/tools/{tool}"),
        ("POST", "/tools/{tool}/decisions"),
        ("PUT", "/tools/{tool}/liability"),
        ("POST", "/priorities"),
        ("POST", "/proposals"),
        ("POST", "/auth/login"),
        ("POST", "/opt-outs"),
    ]
)
QUERIES = st.dictionaries(
    st.sampled_from(["limit", "offset", "after", "state", "entity_type"]),
    st.text(max_size=8) | st.integers().map(str),
    max_size=3,
)


def test_arbitrary_input_never_causes_a_server_error(api: Api) -> None:
    tool = new_tool(api)
    headers = {"Authorization": f"Bearer {api.token(CHAIR)}"}
    auditor = {"Authorization": f"Bearer {api.token(Role.ADMIN)}"}

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(route=PATHS, body=BODIES, query=QUERIES, tool_id=st.sampled_from([tool, "x", "0" * 32]))
    def check(route: tuple[str, str], body: Any, query: dict[str, str], tool_id: str) -> None:
        method, template = route
        path = "/api/v1" + template.format(tool=tool_id)
        sent = {} if method == "GET" else {"json": body}
        caller = auditor if template == "/opt-outs" else headers  # admins register opt-outs
        response = api.client.request(method, path, headers=caller, params=query, **sent)
        assert response.status_code < 500, (method, path, body, response.text)
        for listing in ("/api/v1/tools", "/api/v1/audit"):
            listed = api.client.get(listing, headers=auditor, params=query)
            assert listed.status_code < 500, (listing, query, listed.text)

    check()
