import os
import sys

import pytest

# Run against the installed package, never the source tree beside the tests.
here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(here)]


@pytest.fixture(params=["json", "sqlite"])
def store(request, tmp_path):
    from blobstore import BlobStore

    s = BlobStore(tmp_path / "store", backend=request.param)
    yield s
    s.close()
