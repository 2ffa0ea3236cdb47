# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The option of module_base.repository_lease_argument_spec(), for every module that holds a repository lease.
    DOCUMENTATION = r'''
options:
  lock_timeout:
    description:
      - Seconds to wait for the repository's lease before failing with C(REPOSITORY_BUSY), which names every holder
        (its operation, host, process and start) and says when a holder's clock is ahead of this host's.
      - Backups, restores, exports, file extractions, verifications and changes of protection share the repository;
        a prune, a garbage collection or a point deletion holds it alone, so each waits for the other kind
        (docs/retention.md, "Concurrency"). A holder that crashed stops counting 300 seconds after its last refresh.
    type: int
    default: 3600
'''
