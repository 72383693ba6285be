#ifndef TASKWATCH_COPENSSL_H
#define TASKWATCH_COPENSSL_H

/* OpenSSL, loaded on first use.

   taskwatch loads libssl.so.3 with dlopen the first time a TLS connection is
   set up, so a run without TLS never maps, relocates or unmaps OpenSSL (linked
   in, it cost about 3 ms per run, part of it at exit). The OpenSSL headers are
   used for their types and constants only: every OpenSSL function taskwatch
   calls is one of the tw_ functions below, which forward to the loaded
   library. Calling an OpenSSL function directly fails to link, on purpose. */

#include <stddef.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Loads OpenSSL once (thread-safe). Returns 1 when it is usable; otherwise 0,
   with the reason (e.g. dlerror's text) in error. */
int tw_openssl_load(char *error, size_t size);

/* The OpenSSL functions taskwatch uses: F(return type, name, parameters,
   arguments), or V(name, parameters, arguments) for those returning void. */
#define TW_OPENSSL_FUNCTIONS(F, V)                                                      \
  V(ERR_clear_error, (void), ())                                                        \
  F(unsigned long, ERR_get_error, (void), ())                                           \
  F(unsigned long, ERR_peek_last_error, (void), ())                                     \
  F(const char *, ERR_reason_error_string, (unsigned long e), (e))                      \
  F(const SSL_METHOD *, TLS_client_method, (void), ())                                  \
  F(SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *method), (method))                       \
  V(SSL_CTX_free, (SSL_CTX *ctx), (ctx))                                                \
  F(long, SSL_CTX_ctrl, (SSL_CTX *ctx, int cmd, long larg, void *parg), (ctx, cmd, larg, parg)) \
  V(SSL_CTX_set_verify, (SSL_CTX *ctx, int mode, SSL_verify_cb callback), (ctx, mode, callback)) \
  F(int, SSL_CTX_set_default_verify_paths, (SSL_CTX *ctx), (ctx))                       \
  F(int, SSL_CTX_load_verify_locations, (SSL_CTX *ctx, const char *file, const char *path), \
    (ctx, file, path))                                                                  \
  F(int, SSL_CTX_use_certificate_chain_file, (SSL_CTX *ctx, const char *file), (ctx, file)) \
  F(int, SSL_CTX_use_PrivateKey_file, (SSL_CTX *ctx, const char *file, int type),       \
    (ctx, file, type))                                                                  \
  F(int, SSL_CTX_check_private_key, (const SSL_CTX *ctx), (ctx))                        \
  V(SSL_CTX_set_client_cert_cb,                                                         \
    (SSL_CTX *ctx, int (*callback)(SSL *ssl, X509 **certificate, EVP_PKEY **key)),      \
    (ctx, callback))                                                                    \
  F(SSL *, SSL_new, (SSL_CTX *ctx), (ctx))                                              \
  V(SSL_free, (SSL *ssl), (ssl))                                                        \
  F(int, SSL_set_fd, (SSL *ssl, int fd), (ssl, fd))                                     \
  F(long, SSL_ctrl, (SSL *ssl, int cmd, long larg, void *parg), (ssl, cmd, larg, parg)) \
  F(int, SSL_set1_host, (SSL *ssl, const char *hostname), (ssl, hostname))              \
  F(X509_VERIFY_PARAM *, SSL_get0_param, (SSL *ssl), (ssl))                             \
  F(int, X509_VERIFY_PARAM_set1_ip_asc, (X509_VERIFY_PARAM *param, const char *address), \
    (param, address))                                                                   \
  F(int, SSL_set_ex_data, (SSL *ssl, int index, void *data), (ssl, index, data))        \
  F(void *, SSL_get_ex_data, (const SSL *ssl, int index), (ssl, index))                 \
  F(int, SSL_connect, (SSL *ssl), (ssl))                                                \
  F(int, SSL_read, (SSL *ssl, void *buffer, int count), (ssl, buffer, count))           \
  F(int, SSL_write, (SSL *ssl, const void *buffer, int count), (ssl, buffer, count))    \
  F(int, SSL_pending, (const SSL *ssl), (ssl))                                          \
  F(int, SSL_get_error, (const SSL *ssl, int status), (ssl, status))                    \
  F(long, SSL_get_verify_result, (const SSL *ssl), (ssl))                               \
  F(const char *, X509_verify_cert_error_string, (long code), (code))                   \
  F(STACK_OF(X509) *, SSL_get_peer_cert_chain, (const SSL *ssl), (ssl))                 \
  F(int, OPENSSL_sk_num, (const OPENSSL_STACK *stack), (stack))                         \
  F(void *, OPENSSL_sk_value, (const OPENSSL_STACK *stack, int index), (stack, index))  \
  F(X509_NAME *, X509_get_subject_name, (const X509 *certificate), (certificate))       \
  F(const BIO_METHOD *, BIO_s_mem, (void), ())                                          \
  F(BIO *, BIO_new, (const BIO_METHOD *method), (method))                               \
  F(int, BIO_read, (BIO *bio, void *data, int count), (bio, data, count))               \
  F(int, BIO_free, (BIO *bio), (bio))                                                   \
  F(int, X509_NAME_print_ex, (BIO *out, const X509_NAME *name, int indent, unsigned long flags), \
    (out, name, indent, flags))

#define TW_DECLARE(type, name, parameters, arguments) type tw_##name parameters;
#define TW_DECLARE_VOID(name, parameters, arguments) void tw_##name parameters;
TW_OPENSSL_FUNCTIONS(TW_DECLARE, TW_DECLARE_VOID)
#undef TW_DECLARE
#undef TW_DECLARE_VOID

/* OpenSSL macros, as functions Swift can call. */

/* SSL_CTX_set_min_proto_version. */
int tw_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
/* SSL_CTX_set_mode. */
long tw_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
/* SSL_set_tlsext_host_name (SNI). */
int tw_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
/* The server's own certificate as it was sent, even when verifying it failed
   (SSL_get1_peer_certificate is only set once verification passed). Not owned. */
X509 *tw_SSL_peer_leaf(const SSL *ssl);
/* Writes a distinguished name in RFC 2253 form ("CN=localhost,O=Example")
   into buffer, NUL-terminated; returns the length, or -1. */
int tw_X509_NAME_rfc2253(const X509_NAME *name, char *buffer, int size);

#endif
