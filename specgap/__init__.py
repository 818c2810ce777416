"""specgap: spectral gaps and geometric phases of diffusion models.

The distribution has three libraries - :mod:`rmt` (analytic theory), :mod:`simulate` (exact models and
Monte Carlo) and :mod:`trained` (score networks and the Jacobian engine) - and this application package:
the ``specgap`` command line (:mod:`specgap.cli`, :mod:`specgap.commands`) and the paper reproductions and
studies (:mod:`specgap.reproduce`). Libraries never import it.
"""
__version__ = "0.2.0"

#: version of the layout of every JSON output and ``summary.json`` (bumped when a field changes meaning)
SCHEMA_VERSION = 1


def version_stamp() -> dict:
    """The two fields every JSON output, ``summary.json``, run manifest and sweep store starts with:
    ``{"specgap_version": __version__, "schema_version": SCHEMA_VERSION}`` (a new dict each call)."""
    return {"specgap_version": __version__, "schema_version": SCHEMA_VERSION}
