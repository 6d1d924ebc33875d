"""DataJoint schemas of the tectum pipeline.

Importing this package connects with DataJoint's own settings and declares
three schemas named with ``TECTUM_SCHEMA_PREFIX`` (default ``tectum_``):
``reference``, ``acquisition``, ``analysis``.
"""

from . import acquisition, analysis, reference  # noqa: F401  (declare in dependency order)
from .config import schema_prefix
from .ingest import IngestError, insert_recording
from .populate import populate_all

__all__ = ["acquisition", "analysis", "reference", "insert_recording", "IngestError", "populate_all", "schema_prefix"]
