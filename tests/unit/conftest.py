import os
import sys

# The collection imports itself as ansible_collections.vadp.vsphere; tests/bootstrap.sh links the
# checkout there.
_COLLECTIONS = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "collections")
sys.path.insert(0, os.path.abspath(_COLLECTIONS))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
