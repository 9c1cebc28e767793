/* Host-only helpers shared by the vectors tool and the simulator: canonical text, hex. */
#ifndef BP_DESCRIBE_H
#define BP_DESCRIBE_H
#include <stddef.h>
#include "bp_codec.h"

/* The canonical one-line form, identical to firmware_bridge.messages.describe(). */
void bp_describe(const bp_frame_t *f, char *out, size_t cap);
const char *bp_error_name(int rc);
/* Parse hex into out; returns the byte count or -1. */
int bp_from_hex(const char *hex, unsigned char *out, size_t cap);
void bp_to_hex(const unsigned char *data, size_t len, char *out);
#endif
