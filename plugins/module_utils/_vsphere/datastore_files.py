# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small files (NVRAM) to and from datastores through vCenter's /folder HTTP interface, with the
session's cookie and the client's TLS settings. No Ansible imports."""

import http.client
import urllib.parse

from ansible_collections.vadp.vsphere.plugins.module_utils._vsphere.tls import make_ssl_context


def split_datastore_path(path):
    """('datastore', 'folder/file') of '[datastore] folder/file'."""
    if not path.startswith("["):
        return None, path
    datastore, relative = path[1:].split("]", 1)
    return datastore, relative.strip()


def transfer(client, method, datacenter, datastore, relative_path, body=None):
    """(HTTP status, response body) of a GET or PUT of one datastore file."""
    settings = client.settings
    query = urllib.parse.urlencode({"dcPath": datacenter, "dsName": datastore})
    connection = http.client.HTTPSConnection(settings.hostname, int(settings.port), timeout=60,
                                             context=make_ssl_context(settings.validate_certs, settings.ca_bundle))
    headers = {"Cookie": client.session_cookie}
    if body is not None:
        headers.update({"Content-Type": "application/octet-stream", "Content-Length": str(len(body))})
    try:
        connection.request(method, "/folder/%s?%s" % (urllib.parse.quote(relative_path), query), body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
