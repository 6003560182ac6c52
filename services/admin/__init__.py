"""An AE's administration, one module per section of its screens.

    operators              the operator accounts: list, add, roles and portals, (de)activation
    operator_certificates  the certificates operators log in with: associate, remove, revoke,
                           and those about to expire (for the admins' digest)
"""
