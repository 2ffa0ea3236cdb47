"""What a deep check of a whole repository looks for, written apart from the collector it checks:
chunk files no point references, and chunks a point references that are not stored."""
import os


def stored(repo):
    if repo.location.startswith("s3://"):  # every object under chunks/, listed by boto3 itself
        import boto3
        bucket, _sep, prefix = repo.location[len("s3://"):].partition("/")
        pages = boto3.session.Session().client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix.strip("/") + "/chunks/")
        return {o["Key"].rpartition("/")[2] for page in pages for o in page.get("Contents", [])}
    return {name for _folder, _dirs, names in os.walk(os.path.join(repo.location, "chunks")) for name in names}


def referenced(repo):
    return {e for m in repo.points.list() for d in m["disks"] for e in repo.points.read_index(m, d).entries if e}


def unreferenced(repo):
    return stored(repo) - referenced(repo)


def missing(repo):
    return referenced(repo) - stored(repo)
