# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # encryption_key_file of module_base.repository_access_argument_spec(), for every module that opens a repository.
    DOCUMENTATION = r'''
options:
  encryption_key_file:
    description:
      - The key file of an encrypted repository. A file of 64 hexadecimal digits is a raw AES-256 key; anything
        else is a passphrase, stretched with scrypt. The first backup into a new folder with a key file creates
        an encrypted repository (docs/restore-point-format.md, "Encryption").
      - Checked before anything is read or written - an encrypted repository without it fails with C(KEY_REQUIRED),
        with another key with C(KEY_WRONG); a key file for a repository that is not encrypted is refused.
      - The key is never written into the repository, the module's output or its logs; a transfer's worker process
        receives it on its standard input.
      - If not given, the environment variable E(VADP_REPOSITORY_KEY_FILE) is used.
    type: path
'''
