/*
 * Verifies otaseal packages through the C API (include/otaseal.h).
 *
 * Host build (tests/c_example.rs):
 *   cc -std=c11 -I include examples/c/verify_package.c libotaseal_ffi.a \
 *      -lpthread -ldl -lm -o verify_package
 *   verify_package PACKAGE [--root DER]... [--key SPKI_DER]... [--tsa-root DER]...
 *       [--hw-id ID] [--min-security-version N] [--time UNIX_SECONDS]
 *       [--require SUITE_BITS] [--require-timestamp SUITE_BITS]
 *       [--digest-families DIGEST_BITS | --digest-all] [--chunk BYTES]
 *   prints "accepted security_version=N payload_bytes=N" and exits 0, or
 *   "rejected CODE" and exits 1; usage and I/O errors exit 2.
 *
 * Bare-metal build (ci.sh, -DOTASEAL_BARE_METAL): the packages and root
 * certificates are linked into flash (examples/c/mps2-an386/blobs.S); a
 * genuine and a tampered package are verified in 4 KiB chunks straight from
 * flash, the verdicts printed over semihosting, and the exit status is 0
 * only if both verdicts are right.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otaseal.h"

/* Payload bytes seen by the sink, per payload (the real device would write
 * them to its inactive slot here). */
struct sink_totals {
  uint64_t bytes[16];
};

static void count_payload(void *ctx, size_t payload_index, const uint8_t *bytes, size_t len) {
  struct sink_totals *totals = ctx;
  (void)bytes;
  if (payload_index < sizeof totals->bytes / sizeof totals->bytes[0]) {
    totals->bytes[payload_index] += len;
  }
}

static uint64_t total_bytes(const struct sink_totals *totals) {
  uint64_t sum = 0;
  for (size_t i = 0; i < sizeof totals->bytes / sizeof totals->bytes[0]; i++) {
    sum += totals->bytes[i];
  }
  return sum;
}

/* The verifier state: static, so neither stack nor heap holds its 8 KiB, and
 * it never moves. */
static otaseal_verifier verifier;

#ifdef OTASEAL_BARE_METAL

/* Linked into flash by blobs.S. */
extern const uint8_t pkg_genuine[], pkg_genuine_end[];
extern const uint8_t pkg_tampered[], pkg_tampered_end[];
extern const uint8_t root_p256[], root_p256_end[];
extern const uint8_t root_sm2[], root_sm2_end[];

/* Envelopes of the packages this device accepts are at most 4 KiB. */
#define MAX_ENVELOPE 4096
/* otaseal_buffer_size(MAX_ENVELOPE), as a constant expression. */
static uint8_t envelope_buf[2 * MAX_ENVELOPE + OTASEAL_BUFFER_OVERHEAD];

/* 2027-06-01T00:00:00Z: a device would read its trusted clock. */
#define NOW 1811808000u

static enum otaseal_status verify(const uint8_t *pkg, const uint8_t *end, uint64_t *security_version,
                                  struct sink_totals *totals) {
  const otaseal_bytes roots[] = {
      {root_p256, (size_t)(root_p256_end - root_p256)},
      {root_sm2, (size_t)(root_sm2_end - root_sm2)},
  };
  const otaseal_trust trust = {.roots = roots, .roots_len = 2};
  static const char hw_id[] = "acme-rev-a";
  const otaseal_policy policy = {
      .flags = OTASEAL_POLICY_MIN_SECURITY_VERSION | OTASEAL_POLICY_TIME,
      .hw_id = (const uint8_t *)hw_id,
      .hw_id_len = sizeof hw_id - 1,
      .min_security_version = 12,
      .time = NOW,
  };
  if (otaseal_buffer_size(MAX_ENVELOPE) > sizeof envelope_buf) {
    return OTASEAL_ERR_BUFFER_TOO_SMALL;
  }
  enum otaseal_status st = otaseal_verifier_init(&verifier, envelope_buf, sizeof envelope_buf, &trust, &policy);
  if (st != OTASEAL_OK) {
    return st;
  }
  for (const uint8_t *p = pkg; p < end;) {
    size_t n = (size_t)(end - p) < 4096 ? (size_t)(end - p) : 4096;
    st = otaseal_verifier_update(&verifier, p, n, count_payload, totals);
    if (st != OTASEAL_OK) {
      break; /* finish reports the same error */
    }
    p += n;
  }
  return otaseal_verifier_finish(&verifier, security_version);
}

/* Paints the stack below the current frame, for the peak-stack report. */
/* The top STACK_SIZE bytes of RAM (mps2-an386.ld); newlib's heap is below. */
extern uint32_t __stack_limit[];
#define STACK_PAINT 0x5afe5afeu

static void paint_stack(void) {
  /* Up to 256 bytes below this frame, which is still in use. */
  uintptr_t limit = (uintptr_t)__builtin_frame_address(0) - 256;
  for (volatile uint32_t *p = __stack_limit; (uintptr_t)p < limit; p++) {
    *p = STACK_PAINT;
  }
}

static size_t stack_used(void) {
  extern uint32_t __stack_top[];
  const uint32_t *p = __stack_limit;
  while (p < __stack_top && *p == STACK_PAINT) {
    p++;
  }
  return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)p);
}

int main(void) {
  uint64_t sv = 0;
  struct sink_totals totals = {0};
  paint_stack();
  enum otaseal_status genuine = verify(pkg_genuine, pkg_genuine_end, &sv, &totals);
  /* newlib-nano's printf has no 64-bit conversions. */
  printf("genuine: %s (security version %lu, %lu payload bytes)\n", otaseal_error_code_str(genuine),
         (unsigned long)sv, (unsigned long)total_bytes(&totals));
  struct sink_totals tampered_totals = {0};
  enum otaseal_status tampered = verify(pkg_tampered, pkg_tampered_end, NULL, &tampered_totals);
  printf("tampered: %s\n", otaseal_error_code_str(tampered));
  printf("peak stack: %u bytes\n", (unsigned)stack_used());
  int ok = genuine == OTASEAL_OK && sv == 12 && tampered == OTASEAL_ERR_PAYLOAD_DIGEST_MISMATCH;
  printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

#else /* host */

/* Envelopes up to 64 KiB (all eight suites with chains are about 54 KiB). */
#define MAX_ENVELOPE (64u * 1024u)

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return NULL;
  }
  size_t cap = 4096, n = 0;
  uint8_t *data = malloc(cap);
  while (data != NULL) {
    n += fread(data + n, 1, cap - n, f);
    if (n < cap) {
      break;
    }
    cap *= 2;
    uint8_t *bigger = realloc(data, cap);
    if (bigger == NULL) {
      free(data);
    }
    data = bigger;
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(data);
    return NULL;
  }
  *len = n;
  return data;
}

static int usage(const char *why) {
  fprintf(stderr, "verify_package: %s\n", why);
  return 2;
}

/* Appends the DER file at `path` to `list`. */
static int add_der(otaseal_bytes *list, size_t *count, size_t max, const char *path) {
  if (*count == max) {
    return usage("too many anchors");
  }
  size_t len = 0;
  uint8_t *der = read_file(path, &len);
  if (der == NULL) {
    fprintf(stderr, "verify_package: cannot read %s\n", path);
    return 2;
  }
  list[*count].ptr = der;
  list[*count].len = len;
  *count += 1;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 0);
  if (*s == '\0' || *end != '\0') {
    return usage("not a number");
  }
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  otaseal_bytes roots[OTASEAL_MAX_ROOTS], keys[OTASEAL_MAX_KEYS], tsa_roots[OTASEAL_MAX_TSA_ROOTS];
  otaseal_trust trust = {.roots = roots, .keys = keys, .tsa_roots = tsa_roots};
  otaseal_policy policy = {0};
  const char *package = NULL;
  uint64_t chunk = 4096, v = 0;
  int rc = 0;
  for (int i = 1; i < argc && rc == 0; i++) {
    const char *a = argv[i];
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = strcmp(a, "--digest-all") != 0 && strncmp(a, "--", 2) == 0;
    if (takes && next == NULL) {
      return usage("missing value");
    }
    if (strcmp(a, "--root") == 0) {
      rc = add_der(roots, &trust.roots_len, OTASEAL_MAX_ROOTS, next);
    } else if (strcmp(a, "--key") == 0) {
      rc = add_der(keys, &trust.keys_len, OTASEAL_MAX_KEYS, next);
    } else if (strcmp(a, "--tsa-root") == 0) {
      rc = add_der(tsa_roots, &trust.tsa_roots_len, OTASEAL_MAX_TSA_ROOTS, next);
    } else if (strcmp(a, "--hw-id") == 0) {
      policy.hw_id = (const uint8_t *)next;
      policy.hw_id_len = strlen(next);
    } else if (strcmp(a, "--min-security-version") == 0) {
      rc = parse_u64(next, &policy.min_security_version);
      policy.flags |= OTASEAL_POLICY_MIN_SECURITY_VERSION;
    } else if (strcmp(a, "--time") == 0) {
      rc = parse_u64(next, &policy.time);
      policy.flags |= OTASEAL_POLICY_TIME;
    } else if (strcmp(a, "--require") == 0) {
      rc = parse_u64(next, &v);
      policy.required_suites = (uint16_t)v;
    } else if (strcmp(a, "--require-timestamp") == 0) {
      rc = parse_u64(next, &v);
      policy.require_timestamp = (uint16_t)v;
    } else if (strcmp(a, "--digest-families") == 0) {
      rc = parse_u64(next, &v);
      policy.digest_policy = OTASEAL_DIGESTS_FAMILIES;
      policy.digest_families = (uint8_t)v;
    } else if (strcmp(a, "--digest-all") == 0) {
      policy.digest_policy = OTASEAL_DIGESTS_ALL_IN_MANIFEST;
      continue; /* no value */
    } else if (strcmp(a, "--chunk") == 0) {
      rc = parse_u64(next, &chunk);
      if (rc == 0 && (chunk == 0 || chunk > (1u << 20))) {
        rc = usage("--chunk must be 1..1048576");
      }
    } else if (!takes && package == NULL) {
      package = a;
      continue;
    } else {
      return usage("unknown argument");
    }
    i++; /* the value */
  }
  if (rc != 0) {
    return rc;
  }
  if (package == NULL) {
    return usage("no package given");
  }
  FILE *f = fopen(package, "rb");
  if (f == NULL) {
    fprintf(stderr, "verify_package: cannot open %s\n", package);
    return 2;
  }
  size_t buf_len = otaseal_buffer_size(MAX_ENVELOPE);
  uint8_t *buf = malloc(buf_len);
  uint8_t *data = malloc((size_t)chunk);
  if (buf == NULL || data == NULL) {
    return usage("out of memory");
  }
  struct sink_totals totals = {0};
  enum otaseal_status st = otaseal_verifier_init(&verifier, buf, buf_len, &trust, &policy);
  if (st == OTASEAL_OK) {
    size_t n;
    while ((n = fread(data, 1, (size_t)chunk, f)) > 0) {
      st = otaseal_verifier_update(&verifier, data, n, count_payload, &totals);
      if (st != OTASEAL_OK) {
        break; /* finish reports the same error */
      }
    }
    if (ferror(f)) {
      fprintf(stderr, "verify_package: error reading %s\n", package);
      return 2;
    }
    uint64_t security_version = 0;
    st = otaseal_verifier_finish(&verifier, &security_version);
    if (st == OTASEAL_OK) {
      printf("accepted security_version=%" PRIu64 " payload_bytes=%" PRIu64 "\n", security_version,
             total_bytes(&totals));
    }
  }
  fclose(f);
  free(data);
  free(buf);
  if (st != OTASEAL_OK) {
    printf("rejected %s\n", otaseal_error_code_str(st));
    return 1;
  }
  return 0;
}

#endif
