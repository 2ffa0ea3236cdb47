"""The lab's /folder datastore file access needs a session, as vCenter's does."""
import http.client
import ssl

from conftest import find_vm_by_name


def _get(lab, path, cookie=None):
    connection = http.client.HTTPSConnection(lab.host, lab.port, context=ssl.create_default_context(cafile=lab.ca_file))
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_datastore_files_need_a_live_session(lab, si):
    [vm] = find_vm_by_name(si, "DC0_H0_VM0")
    path = "/folder/DC0_H0_VM0/DC0_H0_VM0.vmx?dcPath=DC0&dsName=LocalDS_0"
    assert _get(lab, path)[0] == 401
    assert _get(lab, path, "vmware_soap_session=not-a-session")[0] == 401
    cookie = si._stub.cookie  # the session pyVmomi logged in with
    status, _body = _get(lab, path, cookie)
    assert status == 200  # (the simulator writes empty .vmx files)
    assert vm.config.files.vmPathName.endswith("DC0_H0_VM0.vmx")
