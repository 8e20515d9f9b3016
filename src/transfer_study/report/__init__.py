"""Report: gathering results, figures, the context of the templates and the PDF build."""
