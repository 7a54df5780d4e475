/* A self-signed certificate for sandbox instances. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "admin/cli.h"
#include "common/xalloc.h"

#define VALID_DAYS 3650

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

int cli_selfsigned_cert(const char *cert_path, const char *key_path, const char *name,
			char **error_r)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	FILE *f = NULL;
	int ret = -1;
	if (key == NULL || cert == NULL)
		goto out;

	X509_set_version(cert, 2);
	unsigned char serial[16];
	BIGNUM *bn = BN_new();
	if (bn == NULL || RAND_bytes(serial, sizeof(serial)) != 1 ||
	    BN_bin2bn(serial, sizeof(serial), bn) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL) {
		BN_free(bn);
		goto out;
	}
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), (long)VALID_DAYS * 86400);
	X509_set_pubkey(cert, key);
	X509_NAME *subject = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
				   (const unsigned char *)"Petrel sandbox", -1, -1, 0);
	X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name, -1,
				   -1, 0);
	X509_set_issuer_name(cert, subject);
	char *san = xasprintf("DNS:%s,IP:127.0.0.1,IP:::1", name);
	int ext_ok = add_ext(cert, NID_subject_alt_name, san) == 0 &&
		     add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     add_ext(cert, NID_ext_key_usage, "serverAuth") == 0;
	free(san);
	if (!ext_ok || X509_sign(cert, key, EVP_sha256()) == 0)
		goto out;

	/* The key is written 0600 from the start, never readable by others. */
	mode_t old = umask(077);
	f = fopen(key_path, "w");
	umask(old);
	if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
		*error_r = xasprintf("cannot write %s", key_path);
		goto out_noerr;
	}
	fclose(f);
	f = fopen(cert_path, "w");
	if (f == NULL || PEM_write_X509(f, cert) != 1) {
		*error_r = xasprintf("cannot write %s", cert_path);
		goto out_noerr;
	}
	ret = 0;
	goto out_noerr;
out:
	*error_r = xasprintf("cannot make a certificate: %s",
			     ERR_reason_error_string(ERR_get_error()) ?: "OpenSSL error");
out_noerr:
	if (f != NULL)
		fclose(f);
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}
