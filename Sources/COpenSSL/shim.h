#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* OpenSSL spells these as macros over SSL_ctrl/SSL_CTX_ctrl, which Swift
   cannot import; these inline functions give them a typed signature. */

static inline int taskwatch_SSL_CTX_set_min_proto_version(SSL_CTX *context, int version) {
  return (int)SSL_CTX_set_min_proto_version(context, version);
}

static inline long taskwatch_SSL_CTX_set_mode(SSL_CTX *context, long mode) {
  return SSL_CTX_set_mode(context, mode);
}

static inline int taskwatch_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
  return (int)SSL_set_tlsext_host_name(ssl, name);
}

/* The server's own certificate as it was sent, even when verifying it failed
   (SSL_get1_peer_certificate is only set once verification passed). Not owned. */
static inline X509 *taskwatch_SSL_peer_leaf(const SSL *ssl) {
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
  return chain != NULL && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
}

/* Writes a distinguished name in RFC 2253 form ("CN=localhost,O=Example")
   into buffer, NUL-terminated; returns the length, or -1. */
static inline int taskwatch_X509_NAME_rfc2253(const X509_NAME *name, char *buffer, int size) {
  BIO *bio = BIO_new(BIO_s_mem());
  if (bio == NULL || size < 1) { BIO_free(bio); return -1; }
  int length = -1;
  if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
    length = BIO_read(bio, buffer, size - 1);
    buffer[length > 0 ? length : 0] = '\0';
  }
  BIO_free(bio);
  return length;
}
