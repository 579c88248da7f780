/* Links the packages and root certificates into flash. The paths come from
 * ci.sh: GENUINE, TAMPERED, ROOT_P256, ROOT_SM2 (quoted strings). */
#define BLOB(name, path) \
  .global name, name##_end; .balign 4; name: .incbin path; name##_end:

  .section .blobs, "a"
  BLOB(pkg_genuine, GENUINE)
  BLOB(pkg_tampered, TAMPERED)
  BLOB(root_p256, ROOT_P256)
  BLOB(root_sm2, ROOT_SM2)
