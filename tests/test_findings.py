"""docs/findings.md: every row names a command the CLI accepts and a summary.json key; every paper's claims are
covered; the parser of the ledger against a hand-written table. The numbers are checked against the quick runs
in the study tests (``findings_ledger.check_study``)."""
import shlex

import pytest

from findings_ledger import COLUMNS, check_study, lookup, number, rows, study_of
from specgap.cli import build_parser

ROWS = rows()


def test_every_row_is_complete():
    assert len(ROWS) >= 20
    ids = [r["id"] for r in ROWS]
    assert len(set(ids)) == len(ids)
    for r in ROWS:
        assert r["claim"] and r["command"].startswith("specgap ") and r["key"], r
        assert r["verdict"].split()[0].rstrip(",;:") in ("reproduced", "partly", "not"), r["verdict"]
        assert number(r["quick"]) is not None or number(r["full"]) is not None, f"row {r['id']} has no number"


@pytest.mark.parametrize("command", sorted({r["command"] for r in ROWS}))
def test_every_command_exists(command):
    tok = shlex.split(command)[1:]
    if "--out" not in tok and tok[0] == "reproduce":
        tok += ["--out", "x"]
    build_parser().parse_args(tok)                          # exits 2 (SystemExit) on an unknown command/option


def test_every_paper_and_claim_is_covered():
    claims = " ".join(r["claim"].lower() + " " + r["id"].lower() for r in ROWS)
    for word in ("fig. 2", "fig. 3", "fig. 4", "fig. 5", "on-manifold", "training", "ood", "memoris",
                 "guidance", "diversity", "reach", "align", "slide", "bias", "inter-mode"):
        assert word in claims, f"no ledger row about {word!r}"
    studies = {study_of(r["command"]) for r in ROWS}
    assert {"fig2", "fig3", "fig4", "fig5", "toy-ddpm", "vae-dynamics", "ood", "guidance", "ridge-toy",
            "ridge-mnist", "relu-partition"} <= studies


def test_ledger_parser_and_checks(tmp_path, monkeypatch):
    import findings_ledger
    md = tmp_path / "f.md"
    md.write_text("intro\n\n| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
                  "| A1 | a claim | `specgap reproduce fig2 --quick` | `ks.mean` | 0.022 | 0.01 | reproduced |\n"
                  "| A2 | other | `specgap reproduce fig2 --quick` | `gaps.1` | 1.5e-3 [1, 2] | - | partly |\n\ntext\n")
    r = rows(md)
    assert [x["id"] for x in r] == ["A1", "A2"] and r[0]["key"] == "ks.mean" and r[1]["full"] == "-"
    assert number(r[1]["quick"]) == 1.5e-3 and number("-") is None and number("\u22120.25 (n = 3)") == -0.25
    assert lookup({"gaps": [1, 2.5]}, "gaps.1") == 2.5 and lookup({"a": {"b": [0, {"c": 3}]}}, "a.b.-1.c") == 3
    monkeypatch.setattr(findings_ledger, "LEDGER", md)
    monkeypatch.setattr(findings_ledger.rows, "__defaults__", (md,))
    assert check_study("fig2", {"ks": {"mean": 0.0221}, "gaps": [0, 0.0015]}) == 2
    with pytest.raises(AssertionError, match="A1"):
        check_study("fig2", {"ks": {"mean": 0.03}, "gaps": [0, 0.0015]})
    with pytest.raises(KeyError, match="ks.mean"):
        check_study("fig2", {"gaps": [0, 0.0015]})
