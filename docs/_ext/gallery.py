"""The gallery: each reproduction's notebook (executed by ``make notebooks``, its outputs stored) as a page, and an
index of thumbnails with the command that makes the same figures. Nothing is executed during the build."""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

#: notebook stem -> the command that writes the same figures (the notebooks run the quick mode)
COMMANDS = {
    "fig2": "specgap reproduce fig2 --quick --out results/fig2",
    "fig3": "specgap reproduce fig3 --quick --out results/fig3",
    "fig4": "specgap reproduce fig4 --quick --out results/fig4",
    "fig5": "specgap reproduce fig5 --quick --out results/fig5",
    "guidance": "specgap reproduce guidance --quick --out results/guidance",
    "ood": "specgap reproduce ood --quick --out results/ood",
    "relu_partition": "specgap reproduce relu-partition --quick --out results/relu-partition",
    "ridge_mnist": "specgap reproduce ridge-mnist --quick --out results/ridge-mnist",
    "ridge_toy": "specgap reproduce ridge-toy --quick --out results/ridge-toy",
    "toy_ddpm": "specgap reproduce toy-ddpm --quick --out results/toy-ddpm",
    "vae_dynamics": "specgap reproduce vae-dynamics --quick --out results/vae-dynamics",
}


def _title(nb: dict, stem: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            first = "".join(cell["source"]).strip().splitlines()[0]
            if first.startswith("# "):
                return first[2:].strip()
    raise ValueError(f"notebook {stem}.ipynb has no '# title' markdown cell")


def _first_png(nb: dict) -> bytes:
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                return base64.b64decode(png if isinstance(png, str) else "".join(png))
    raise ValueError("no stored figure")


def write_gallery(srcdir: Path, notebooks: Path) -> None:
    """Copy each notebook into ``gallery/`` (rendered by myst-nb without execution), write its thumbnail, and write
    ``gallery/index.md``. A notebook without a command in :data:`COMMANDS` (or the reverse) stops the build."""
    gal = srcdir / "gallery"
    if gal.exists():
        shutil.rmtree(gal)
    (gal / "thumbs").mkdir(parents=True)
    stems = sorted(p.stem for p in notebooks.glob("*.ipynb"))
    if stems != sorted(COMMANDS):
        raise RuntimeError(f"gallery: notebooks {stems} and commands {sorted(COMMANDS)} differ; update docs/_ext/gallery.py")
    lines = ["# Gallery", "",
             "Each reproduction of the papers' figures and studies, as its notebook in `notebooks/` ran it in quick mode",
             "(`make notebooks` executes them and stores the outputs; the tests check that the stored outputs belong to",
             "the code). The command under each picture writes the same figures, arrays and `summary.json` into `--out`;",
             "drop `--quick` for the paper-sized run.", ""]
    toc = []
    for stem in stems:
        nb = json.loads((notebooks / f"{stem}.ipynb").read_text())
        for cell in nb["cells"]:         # links written for notebooks/ point to docs/ pages from here
            if cell["cell_type"] == "markdown":
                cell["source"] = "".join(cell["source"]).replace("](../docs/", "](../")
        (gal / f"{stem}.ipynb").write_text(json.dumps(nb))
        (gal / "thumbs" / f"{stem}.png").write_bytes(_first_png(nb))
        lines += [f"## [{_title(nb, stem)}]({stem}.ipynb)", "",
                  f"```{{image}} thumbs/{stem}.png", f":alt: {stem}", ":width: 420px", f":target: {stem}.html", "```", "",
                  "```bash", COMMANDS[stem], "```", ""]
        toc.append(stem)
    lines += ["```{toctree}", ":hidden:", ""] + toc + ["```", ""]
    (gal / "index.md").write_text("\n".join(lines))
