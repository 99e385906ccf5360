"""The HTTP bench's harness works end to end on a tiny room (a smoke test: no timing is asserted here).

The bench itself never runs as a unit test; this checks only that set-up, gunicorn, the load generator and the
ledger check fit together, in about 15 s. gunicorn and aiohttp are in the dev extra for it.
"""

from __future__ import annotations

from bench.http import cli


def test_a_tiny_room_signs_in_starts_saves_and_loses_nothing(tmp_path):
    args = cli.build_parser().parse_args(
        [
            "run",
            "--candidates", "3",
            "--duration", "2",
            "--herd-spread", "0.2",
            "--uncalibrated-bank",
            "--save-interval", "0.5-1",
            "--heartbeat", "1",
            "--grid", "1",
            "--workers", "1",
            "--threads", "2",
            "--workdir", str(tmp_path),
            "--results", str(tmp_path / "results"),
            "--no-profile",
        ]
    )  # fmt: skip
    record = cli.run(args)

    assert record["phases"]["sign_in"]["failed"] == 0
    assert record["phases"]["start"]["served"] == 3
    assert record["ops"]["save"]["n"] > 0 and record["ops"]["save"]["errors"] == 0
    assert record["verification"]["ok"]
    assert record["verification"]["lost_acknowledged"] == 0
    assert record["verification"]["answer_event_rows"] == record["verification"]["acknowledged_saves"]
    assert list((tmp_path / "results").glob("*-sqlite-n3.json"))
