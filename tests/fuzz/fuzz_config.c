/*
 * fuzz_config.c - libFuzzer target for the configuration parser.
 *
 * Any input must be refused cleanly or parsed; a parsed configuration must
 * print (capstoned -T) to text that parses back to the same output, and the
 * listen splitter must accept every listen value the parser accepted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
print_config(const struct cap_config *c, size_t *len)
{
	char *buf = NULL;
	FILE *f;

	if ((f = open_memstream(&buf, len)) == NULL)
		abort();
	config_print(c, f);
	if (fclose(f) != 0)
		abort();
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cap_config *c = NULL, *back = NULL;
	char err[512], err2[512], host[256], *p1 = NULL, *p2 = NULL;
	size_t l1 = 0, l2 = 0;
	unsigned port;

	if (config_parse("fuzz.conf", (const char *)data, size, &c, err,
	    sizeof(err)) != 0) {
		if (c != NULL || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if (config_listen_split(c->listen, host, sizeof(host), &port) != 0 ||
	    port == 0 || port > 65535)
		abort();
	p1 = print_config(c, &l1);
	if (config_parse("printed", p1, l1, &back, err2, sizeof(err2)) != 0) {
		fprintf(stderr, "printed configuration does not re-parse: %s\n",
		    err2);
		abort();
	}
	p2 = print_config(back, &l2);
	/* Both printouts start with a comment naming a different file. */
	if (strchr(p1, '\n') == NULL || strchr(p2, '\n') == NULL ||
	    strcmp(strchr(p1, '\n'), strchr(p2, '\n')) != 0) {
		fprintf(stderr, "printed configuration changed on re-parse\n");
		abort();
	}
	free(p1);
	free(p2);
	config_free(back);
	config_free(c);
	return 0;
}
