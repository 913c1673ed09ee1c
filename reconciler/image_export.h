/*
 * image_export.h - a template's image, converted for a public cloud
 *
 * The base is streamed out of libvirt into a file on the machine strata
 * runs on (as into a library), converted there with `qemu-img convert`
 * into the format the target wants, and handed to the target's upload
 * command.  The template's own base is only read.
 *
 *   qcow2  compacted, no backing file
 *   raw    plain
 *   vmdk   streamOptimized, as AWS VM Import wants
 *   vhd    fixed, its virtual size rounded up to a whole MiB, as Azure wants
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once
#include <glib.h>
#include <stdint.h>

#include "virt.h"

typedef struct {
	const char *path;        /* the folder the file goes into */
	const char *file_name;   /* its name there: unique per target */
	const char *format;      /* qcow2, raw, vmdk, vhd */
	const char *source_format; /* the base's (qcow2, raw), or NULL */
	const char *command;     /* the upload command line, or NULL */
	const char *region;      /* for {region} */
	unsigned timeout_s;      /* each upload attempt's deadline */
	unsigned attempts;       /* upload attempts, backing off 1 s, 2 s, ... */
} image_target;

typedef struct {
	char sha256[65];         /* of the converted file */
	uint64_t bytes;          /* its size */
	char *log;               /* what the upload attempts did: exit status and output */
} image_result;

/*
 * Export @pool/@volume of @h to @t.  The converted file is written beside
 * its final name and renamed when whole; a failed upload leaves it there
 * (the next attempt converts afresh) and says why in @error, with every
 * attempt's exit status and the end of its output.
 */
bool image_export(virt_host *h, const char *pool, const char *volume, const image_target *t,
		  image_result *out, GError **error);

/* "aws s3 cp {file} s3://b/{name}" with each placeholder's value quoted
 * for the shell; NULL (and @error) for an unknown placeholder. */
char *image_upload_line(const char *command, const char *file, const char *name,
			const char *region, const char *sha256, GError **error);

/* The placeholders an upload command may use, for messages. */
#define IMAGE_PLACEHOLDERS "{file}, {name}, {region}, {sha256}"
