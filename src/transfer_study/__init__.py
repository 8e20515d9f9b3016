"""transfer-study: the library behind the Snakemake workflow.

Every stage of the workflow (download, preprocess, train, evaluate, plot, report) is a
module here, importable and tested without Snakemake; `scripts/` only wires them to rules.
"""

__version__ = "0.1.0"
