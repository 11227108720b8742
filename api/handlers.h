/*
 * handlers.h - the handlers of the REST API routes.  Each answers exactly
 * once through reply.h; the route table is in router.c.
 */
#ifndef CAP_API_HANDLERS_H
#define CAP_API_HANDLERS_H

#include "api/api_int.h"

/* handlers_domains.c */
void api_h_domain_create(struct api_ctx *ctx);
void api_h_domain_list(struct api_ctx *ctx);
void api_h_domain_get(struct api_ctx *ctx);
void api_h_domain_delete(struct api_ctx *ctx);
void api_h_domain_rotate(struct api_ctx *ctx);

/* handlers_secrets.c */
void api_h_secret_put(struct api_ctx *ctx);
void api_h_secret_get(struct api_ctx *ctx);
void api_h_secret_versions(struct api_ctx *ctx);
void api_h_secret_list(struct api_ctx *ctx);
void api_h_secret_delete(struct api_ctx *ctx);
void api_h_secret_destroy(struct api_ctx *ctx);

/* handlers_sys.c */
void api_h_sys_health(struct api_ctx *ctx);
void api_h_sys_tokens(struct api_ctx *ctx);

/* handlers_auth.c */
void api_h_policy_put(struct api_ctx *ctx);
void api_h_policy_get(struct api_ctx *ctx);
void api_h_policy_list(struct api_ctx *ctx);
void api_h_policy_delete(struct api_ctx *ctx);
void api_h_token_create(struct api_ctx *ctx);
void api_h_token_list(struct api_ctx *ctx);
void api_h_token_revoke(struct api_ctx *ctx);

/* handlers_refs.c */
void api_h_ref_create(struct api_ctx *ctx);
void api_h_ref_redeem(struct api_ctx *ctx);
void api_h_secret_generate(struct api_ctx *ctx);
void api_h_audit_get(struct api_ctx *ctx);

/* handlers_keys.c */
void api_h_key_create(struct api_ctx *ctx);
void api_h_key_list(struct api_ctx *ctx);
void api_h_key_get(struct api_ctx *ctx);
void api_h_key_delete(struct api_ctx *ctx);
void api_h_key_sign(struct api_ctx *ctx);
void api_h_key_verify(struct api_ctx *ctx);
void api_h_key_csr(struct api_ctx *ctx);
void api_h_key_encrypt(struct api_ctx *ctx);
void api_h_key_decrypt(struct api_ctx *ctx);

/* handlers_cas.c */
void api_h_ca_create(struct api_ctx *ctx);
void api_h_ca_list(struct api_ctx *ctx);
void api_h_ca_get(struct api_ctx *ctx);
void api_h_ca_delete(struct api_ctx *ctx);
void api_h_ca_chain(struct api_ctx *ctx);
void api_h_ca_crl(struct api_ctx *ctx);
void api_h_ca_ocsp(struct api_ctx *ctx);

/* handlers_certs.c */
void api_h_cert_enroll(struct api_ctx *ctx);
void api_h_cert_list(struct api_ctx *ctx);
void api_h_cert_get(struct api_ctx *ctx);
void api_h_cert_renew(struct api_ctx *ctx);
void api_h_cert_revoke(struct api_ctx *ctx);
void api_h_cert_status(struct api_ctx *ctx);
void api_h_sys_metrics(struct api_ctx *ctx);

/* handlers_cmf.c */
void api_h_cmf_entity_create(struct api_ctx *ctx);
void api_h_cmf_entity_list(struct api_ctx *ctx);
void api_h_cmf_entity_get(struct api_ctx *ctx);
void api_h_cmf_entity_delete(struct api_ctx *ctx);
void api_h_cmf_cert_issue(struct api_ctx *ctx);
void api_h_cmf_cert_list(struct api_ctx *ctx);
void api_h_cmf_ic_create(struct api_ctx *ctx);
void api_h_cmf_ic_list(struct api_ctx *ctx);
void api_h_cmf_ic_delete(struct api_ctx *ctx);

/* handlers_lcm.c */
void api_h_lcm_notify(struct api_ctx *ctx);
void api_h_lcm_get(struct api_ctx *ctx);

/* handlers_pkg.c */
void api_h_pkg_sign(struct api_ctx *ctx);
void api_h_pkg_verify(struct api_ctx *ctx);
void api_h_pkg_encrypt(struct api_ctx *ctx);
void api_h_pkg_decrypt(struct api_ctx *ctx);
#endif
