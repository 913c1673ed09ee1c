/*
 * fuzz_spec.c - libFuzzer harness: any bytes through load + validate
 *
 * Whatever the input, the spec library must return diagnostics: no crash,
 * no hang, no leak, no undefined behaviour.  `make fuzz FUZZ_SECONDS=60`.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>
#include <stdint.h>

#include "../../spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	spec_source *src;
	spec_diags diags;

	spec_diags_init(&diags);
	src = spec_load_buffer("fuzz.yaml", (const char *)data, size, &diags);
	spec_validate(src, &diags);
	for (guint i = 0; i < diags.items->len; i++)
		g_free(spec_diag_format(diags.items->pdata[i]));
	spec_source_free(src);
	spec_diags_release(&diags);
	return 0;
}
