"""What a deep check of a whole repository looks for, written apart from the collector it checks:
chunk files no point references, and chunks a point references that are not stored."""
import os


def stored(repo):
    return {name for _folder, _dirs, names in os.walk(os.path.join(repo.location, "chunks")) for name in names}


def referenced(repo):
    return {e for m in repo.points.list() for d in m["disks"] for e in repo.points.read_index(m, d).entries if e}


def unreferenced(repo):
    return stored(repo) - referenced(repo)


def missing(repo):
    return referenced(repo) - stored(repo)
