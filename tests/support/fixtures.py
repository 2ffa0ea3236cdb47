"""Where the third-party ConfigInfo captures are (../shared/fixtures/configinfo). They stay
outside this repository: they hold other people's host names and MACs, and must not be copied or
sent anywhere. Set VADP_CONFIGINFO_FIXTURES when they are somewhere else; a missing folder is an
error, not a skipped test."""
import os

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_CANDIDATES = [os.path.join(_ROOT, "..", "shared", "fixtures", "configinfo"), "/work/shared/fixtures/configinfo"]


def configinfo_fixtures():
    wanted = os.environ.get("VADP_CONFIGINFO_FIXTURES")
    for path in [wanted] if wanted else _CANDIDATES:
        if os.path.isdir(path):
            return os.path.abspath(path)
    raise RuntimeError("the ConfigInfo fixtures are not at %s: set VADP_CONFIGINFO_FIXTURES" % (wanted or " or ".join(_CANDIDATES)))
