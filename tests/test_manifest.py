"""The run manifest records config, versions, git state and the exported data's fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

from zlflow.manifest import build_manifest

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_records_what_produced_a_run(tmp_path: Path) -> None:
    sidecar = tmp_path / "zl_1m_v1.json"
    sidecar.write_text(
        json.dumps(
            {
                "rows": 10,
                "date_min": "2020-01-01",
                "date_max": "2020-01-14",
                "fingerprint_sha256": "abc",
            }
        )
    )
    manifest = build_manifest({"seed": 42}, [sidecar], root=ROOT)
    assert manifest["config"] == {"seed": 42}
    assert manifest["packages"]["zlflow"] and manifest["packages"]["lightgbm"]
    assert len(manifest["git"]["commit"]) == 40
    assert manifest["data"]["zl_1m_v1"]["fingerprint_sha256"] == "abc"
    json.dumps(manifest)  # serialisable as is
