import os
import sys

# The collection imports itself as ansible_collections.vadp.vsphere; tests/bootstrap.sh links the
# checkout there.
_COLLECTIONS = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "collections")
sys.path.insert(0, os.path.abspath(_COLLECTIONS))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))


import subprocess  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def unlocked_at_end(tmp_path):
    """tmp_path, whose files a hardened repository locked (chattr +i) unlocked after the test, so
    that pytest can remove them."""
    yield tmp_path
    subprocess.run(["chattr", "-R", "-i", str(tmp_path)], capture_output=True, check=False)
