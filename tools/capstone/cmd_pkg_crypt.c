/*
 * cmd_pkg_crypt.c - `capstone pkg encrypt` and `capstone pkg decrypt`.
 *
 * Encryption needs no private key, so it runs here: the artifact is read
 * and the CMS message written in a stream (crypto/pkg_cms.h), whatever
 * its size, and nothing is sent to the daemon.  Decryption needs the
 * consumer's key in the token: the message goes to POST
 * /v1/packages/decrypt (within the daemon's max_body) and the content
 * comes back; it is written to a temporary file next to OUT, mode 0600,
 * renamed into place only when complete, and wiped from memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "common/err.h"
#include "crypto/pkg_cms.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define PEM_FILE_MAX	(64 * 1024)		/* one recipient file */
#define CMS_FILE_MAX	(16u * 1024 * 1024)	/* a message to decrypt */

/* Appends the certificates of a PEM file (one or more) to rc. */
static int
read_recipients(const char *path, STACK_OF(X509) *rc)
{
	char *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509 *x;
	int n = 0;

	if (cli_load_file(path, PEM_FILE_MAX, "64 KiB", &buf, &len) != CLI_OK)
		return -1;
	if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL)
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
			if (sk_X509_push(rc, x) <= 0) {
				X509_free(x);
				break;
			}
			n++;
		}
	ERR_clear_error();
	BIO_free(b);
	sodium_memzero(buf, len);
	sodium_free(buf);
	if (n == 0) {
		cli_err("%s: no PEM certificate", path);
		return -1;
	}
	return 0;
}

/* --json: {"output": PATH[, "bytes": N]} */
static void
print_result(const char *path, int with_len, size_t len)
{
	json_t *o = json_pack("{s:s}", "output", path);

	if (o != NULL && with_len)
		json_object_set_new(o, "bytes", json_integer((json_int_t)len));
	if (o != NULL)
		cli_print_json(o);
	json_decref(o);
}

/* A temporary file next to out, opened 0600; *tmp is malloc'd. */
static int
tmp_open(const char *out, char **tmp)
{
	size_t n = strlen(out) + 16;
	int fd;

	if ((*tmp = malloc(n)) == NULL)
		return -1;
	snprintf(*tmp, n, "%s.tmpXXXXXX", out);
	if ((fd = mkstemp(*tmp)) < 0) {
		cli_err("cannot create a file next to %s: %s", out,
		    strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	(void)fchmod(fd, 0600);
	return fd;
}

int
cmd_pkg_encrypt(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "to", required_argument, NULL, 't' },
		{ "cipher", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "der", no_argument, NULL, 'd' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	enum pkg_cms_cipher cipher = PKG_CMS_AES256_GCM;
	STACK_OF(X509) *rc = NULL;
	const char *outpath = NULL, *inpath;
	char *tmp = NULL;
	BIO *in = NULL, *out = NULL;
	int c, fd = -1, pem = 1, r, rv = CLI_OK;

	if ((rc = sk_X509_new_null()) == NULL)
		return CLI_FAIL;
	while ((c = cli_getopt(cli, cmd, argc, argv, "t:c:o:dh", lo, &rv))
	    != -1) {
		if (c == CLI_GETOPT_EXIT)
			goto out;
		if (c == 't') {
			if (read_recipients(optarg, rc) != 0) {
				rv = CLI_FAIL;
				goto out;
			}
		} else if (c == 'c') {
			if (pkg_cms_cipher_parse(optarg, &cipher) != 0) {
				rv = cli_usage_error(cmd, "--cipher is "
				    "aes-256-gcm or aes-256-cbc");
				goto out;
			}
		} else if (c == 'o')
			outpath = optarg;
		else if (c == 'd')
			pem = 0;
		else {
			rv = cli_usage_error(cmd, "unknown option");
			goto out;
		}
	}
	if (sk_X509_num(rc) == 0) {
		rv = cli_usage_error(cmd, "give at least one --to CERT.pem");
		goto out;
	}
	if (argc - optind != 1 || outpath == NULL) {
		rv = cli_usage_error(cmd, "expected IN and -o OUT.cms");
		goto out;
	}
	inpath = argv[optind];
	rv = CLI_FAIL;
	if ((in = strcmp(inpath, "-") == 0 ? BIO_new_fp(stdin, BIO_NOCLOSE) :
	    BIO_new_file(inpath, "rb")) == NULL) {
		cli_err("cannot open %s", inpath);
		goto out;
	}
	if ((fd = tmp_open(outpath, &tmp)) < 0)
		goto out;
	if ((out = BIO_new_fd(fd, BIO_CLOSE)) == NULL)
		goto out;
	fd = -1;	/* transferred */
	if ((r = pkg_cms_encrypt_bio(rc, cipher, in, out, pem)) != 0) {
		if (r == CAP_ERR_INVALID)
			cli_err("a recipient's key cannot be used (RSA of 2048 "
			    "bits or more, EC P-256 or P-384)");
		else
			cli_err("encryption failed: %s", cap_strerror(r));
		goto out;
	}
	BIO_free(out);
	out = NULL;
	if (rename(tmp, outpath) != 0) {
		cli_err("cannot write %s: %s", outpath, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (cli->json)
		print_result(outpath, 0, 0);
	rv = CLI_OK;
 out:
	ERR_clear_error();
	BIO_free(out);
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	BIO_free(in);
	sk_X509_pop_free(rc, X509_free);
	return rv;
}

/* Decodes the base64 content of res into locked memory. */
static int
content_of(const json_t *res, uint8_t **buf, size_t *len)
{
	const json_t *v = json_object_get(res, "content");
	size_t slen, cap;

	*buf = NULL;
	*len = 0;
	if (!json_is_string(v))
		return -1;
	slen = json_string_length(v);
	cap = slen / 4 * 3 + 3;
	if ((*buf = sodium_malloc(cap)) == NULL)
		return -1;
	if (sodium_base642bin(*buf, cap, json_string_value(v), slen, NULL, len,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		sodium_free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

int
cmd_pkg_decrypt(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "cert", required_argument, NULL, 'C' },
		{ "output", required_argument, NULL, 'o' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *key = NULL, *cert = NULL, *outpath = NULL, *p;
	char *msg = NULL, *b64 = NULL, *tmp = NULL;
	uint8_t *pt = NULL;
	size_t msglen = 0, ptlen = 0, b64len = 0, off;
	json_t *body = NULL, *res = NULL;
	int c, fd = -1, rv = CLI_OK;

	while ((c = cli_getopt(cli, cmd, argc, argv, "k:C:o:h", lo, &rv))
	    != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rv;
		if (c == 'k')
			key = optarg;
		else if (c == 'C')
			cert = optarg;
		else if (c == 'o')
			outpath = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if ((key == NULL) == (cert == NULL))
		return cli_usage_error(cmd, "give one of --key and --cert");
	if (argc - optind != 1 || outpath == NULL)
		return cli_usage_error(cmd, "expected IN.cms and -o OUT");
	for (p = key != NULL ? key : cert; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return cli_usage_error(cmd,
			    "an id is 32 lowercase hex characters");
	rv = CLI_FAIL;
	if (cli_load_file(argv[optind], CMS_FILE_MAX, "16 MiB", &msg,
	    &msglen) != CLI_OK)
		goto out;
	/* PEM goes as it is, anything else as base64 DER. */
	for (off = 0; off < msglen && (msg[off] == ' ' || msg[off] == '\n' ||
	    msg[off] == '\r' || msg[off] == '\t'); off++)
		;
	if (off < msglen && msg[off] == '-')
		body = json_pack("{s:s,s:o}", key != NULL ? "key_id" : "cert",
		    key != NULL ? key : cert, "cms", json_stringn(msg, msglen));
	else {
		b64len = sodium_base64_ENCODED_LEN(msglen,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(b64len)) == NULL)
			goto out;
		sodium_bin2base64(b64, b64len, (const unsigned char *)msg,
		    msglen, sodium_base64_VARIANT_ORIGINAL);
		body = json_pack("{s:s,s:s}", key != NULL ? "key_id" : "cert",
		    key != NULL ? key : cert, "cms", b64);
	}
	if ((rv = cli_post_json(cli, "/v1/packages/decrypt", body, &res))
	    != CLI_OK)
		goto out;
	rv = CLI_FAIL;
	if (content_of(res, &pt, &ptlen) != 0) {
		cli_err("the daemon's answer has no content");
		goto out;
	}
	if ((fd = tmp_open(outpath, &tmp)) < 0)
		goto out;
	if (cli_write_all(fd, pt, ptlen) != 0) {
		cli_err("cannot write %s: %s", outpath, strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		cli_err("cannot write %s", outpath);
		goto out;
	}
	fd = -1;
	if (rename(tmp, outpath) != 0) {
		cli_err("cannot write %s: %s", outpath, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (cli->json)
		print_result(outpath, 1, ptlen);
	rv = CLI_OK;
 out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	if (pt != NULL) {
		sodium_memzero(pt, ptlen);
		sodium_free(pt);
	}
	free(b64);
	if (msg != NULL) {
		sodium_memzero(msg, msglen);
		sodium_free(msg);
	}
	json_decref(res);
	return rv;
}
