#include "COpenSSL.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* The library's functions, found by dlsym once loaded. */
#define TW_POINTER(type, name, parameters, arguments) static __typeof__(name) *loaded_##name;
#define TW_POINTER_VOID(name, parameters, arguments) static __typeof__(name) *loaded_##name;
TW_OPENSSL_FUNCTIONS(TW_POINTER, TW_POINTER_VOID)

/* The tw_ functions: each calls its loaded counterpart. */
#define TW_FORWARD(type, name, parameters, arguments) \
  type tw_##name parameters { return loaded_##name arguments; }
#define TW_FORWARD_VOID(name, parameters, arguments) \
  void tw_##name parameters { loaded_##name arguments; }
TW_OPENSSL_FUNCTIONS(TW_FORWARD, TW_FORWARD_VOID)

static const char library_name[] = "libssl.so.3";
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int is_loaded;
static char load_error[512];

static void load(void) {
  /* libssl brings libcrypto; dlsym on its handle searches both. */
  void *library = dlopen(library_name, RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    snprintf(load_error, sizeof load_error, "cannot load OpenSSL 3: %s", dlerror());
    return;
  }
#define TW_LOAD(type, name, parameters, arguments)                                 \
  loaded_##name = (__typeof__(name) *)dlsym(library, #name);                      \
  if (loaded_##name == NULL) {                                                     \
    snprintf(load_error, sizeof load_error, "%s has no %s", library_name, #name); \
    return;                                                                        \
  }
#define TW_LOAD_VOID(name, parameters, arguments) TW_LOAD(void, name, parameters, arguments)
  TW_OPENSSL_FUNCTIONS(TW_LOAD, TW_LOAD_VOID)
  is_loaded = 1;
}

int tw_openssl_load(char *error, size_t size) {
  pthread_once(&load_once, load);
  if (!is_loaded && error != NULL && size > 0) snprintf(error, size, "%s", load_error);
  return is_loaded;
}

int tw_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
  return (int)tw_SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, version, NULL);
}

long tw_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
  return tw_SSL_CTX_ctrl(ctx, SSL_CTRL_MODE, mode, NULL);
}

int tw_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
  return (int)tw_SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)name);
}

X509 *tw_SSL_peer_leaf(const SSL *ssl) {
  const OPENSSL_STACK *chain = (const OPENSSL_STACK *)tw_SSL_get_peer_cert_chain(ssl);
  return chain != NULL && tw_OPENSSL_sk_num(chain) > 0 ? (X509 *)tw_OPENSSL_sk_value(chain, 0) : NULL;
}

int tw_X509_NAME_rfc2253(const X509_NAME *name, char *buffer, int size) {
  if (size < 1) return -1;
  BIO *bio = tw_BIO_new(tw_BIO_s_mem());
  if (bio == NULL) return -1;
  int length = -1;
  if (tw_X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
    length = tw_BIO_read(bio, buffer, size - 1);
    buffer[length > 0 ? length : 0] = '\0';
  }
  tw_BIO_free(bio);
  return length;
}
