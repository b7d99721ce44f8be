#!/usr/bin/env python3
"""Print the id of the newest other workflow run on this branch that uploaded the matrix artifact.

Used by the nightly workflows to find their baseline (the last nightly's matrix.json).
Prints nothing when there is none (the first nightly, or every earlier one expired).
Reads GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_REF_NAME and GITHUB_RUN_ID (set by
the runner), GH_TOKEN (the job's token, `actions: read`) and MATRIX_ARTIFACT (its name).
The token is sent in a header, never printed.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request


def choose_run(artifacts: list[dict], this_run: int, branch: str) -> int | None:
    """The newest run, other than this one, on `branch` whose artifact has not expired."""
    runs = [
        (a["created_at"], a["workflow_run"]["id"])
        for a in artifacts
        if not a["expired"] and a["workflow_run"]["id"] != this_run and a["workflow_run"].get("head_branch") == branch
    ]
    return max(runs)[1] if runs else None


def main() -> int:
    env = os.environ
    query = urllib.parse.urlencode({"name": env["MATRIX_ARTIFACT"], "per_page": "100"})
    request = urllib.request.Request(
        f"{env['GITHUB_API_URL']}/repos/{env['GITHUB_REPOSITORY']}/actions/artifacts?{query}",
        headers={
            "Authorization": f"Bearer {env['GH_TOKEN']}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        artifacts = json.load(answer)["artifacts"]
    run = choose_run(artifacts, int(env["GITHUB_RUN_ID"]), env["GITHUB_REF_NAME"])
    if run is not None:
        print(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
