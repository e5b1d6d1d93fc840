"""The framework monitor: what the people who run the critical-minerals frameworks keep watch on.

* :mod:`~critmin.monitor.controls`: the export-control timeline as of a date (announcement,
  effective and end dates, suspensions and their expiry) from the store's ``export_controls``;
* :mod:`~critmin.monitor.convert`: an export-control event as a runnable scenario file;
* :mod:`~critmin.monitor.framework`: the dated commitments of the frameworks, their status as of a
  date and their evidence, and the model's indicators against stated goals;
* :mod:`~critmin.monitor.claims`: claims from news and briefings checked against the data.
"""
