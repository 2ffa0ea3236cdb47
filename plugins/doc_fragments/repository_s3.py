# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # s3 of module_base.repository_access_argument_spec(), for every module that opens a repository.
    DOCUMENTATION = r'''
options:
  s3:
    description:
      - How to reach a repository in S3-compatible object storage, one given as O(repository=s3://bucket/prefix)
        (docs/restore-point-format.md, "On object storage"). Needs the C(boto3) Python package on the host that
        runs the module.
      - Each suboption left out is taken as boto3 takes it, from the environment variables and files S3 tools share
        (E(AWS_ENDPOINT_URL), E(AWS_DEFAULT_REGION), E(AWS_ACCESS_KEY_ID), E(AWS_SECRET_ACCESS_KEY), E(AWS_SESSION_TOKEN),
        E(AWS_PROFILE), E(AWS_CA_BUNDLE), C(~/.aws/config) and C(~/.aws/credentials)); an AWX credential that sets
        those variables needs no option here.
      - Ignored for a repository in a folder.
      - The secret key and session token never appear in the module's output or logs; a transfer's worker process
        receives them on its standard input, an export's nbdkit in its environment.
      - A request failing with a server error, a throttle or a timeout is retried with backoff; an endpoint that does
        not answer fails with C(REPOSITORY_UNREACHABLE) naming it, credentials it refuses with C(REPOSITORY_ACCESS_DENIED).
    type: dict
    suboptions:
      endpoint_url:
        description: The endpoint of an S3-compatible server (for example V(https://s3.example.com:9000)); AWS's when left out.
        type: str
      region:
        description: The bucket's region.
        type: str
      access_key:
        description: The access key id.
        type: str
      secret_key:
        description: The secret access key.
        type: str
      session_token:
        description: A session token, with temporary credentials.
        type: str
      profile:
        description: A profile of the AWS configuration files to take credentials and settings from.
        type: str
      ca_bundle:
        description: A PEM file of the certificate authorities to trust for the endpoint's certificate.
        type: path
'''
