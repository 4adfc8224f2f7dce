/*
 * gbind.h - the Forms source's questions, bound by questionId once found.
 *
 * The configured titles (forms.agreement_question, policy_version_question)
 * find a question the first time only; from then on it is read by its
 * questionId, which Google keeps when a title is edited.  A rename is
 * logged and followed.  When the id disappears from the form (the question
 * was deleted, perhaps re-created: a new question gets a new id, and the
 * older responses answer only the old one), a question of the same title
 * is NOT taken silently: that would turn every older response into one
 * without an answer.  The binding then holds (CB_GBIND_HOLD) until an admin
 * accepts the new question (`cetbyodctl confirm --rebind`) or restores the
 * old one.
 *
 * The binding is kept in a small JSON file in the state directory, so a
 * restart keeps it; a missing or unreadable file binds by title again.
 *
 *     {"format":"cetbyod-forms-questions","version":1,"form_id":"1FAIpQ...",
 *      "agreement":{"configured":"I agree to the policy","id":"5f0c1a2b",
 *                   "title":"I agree to the BYOD policy"},
 *      "policy_version":{...}}
 */
#ifndef CETBYOD_SOURCES_GBIND_H
#define CETBYOD_SOURCES_GBIND_H

#include <stdbool.h>
#include <stddef.h>

#include "base/log.h"

#define CB_GBIND_FILE		"forms-questions.json"	/* In state_dir. */
#define CB_GBIND_ID_MAX		128
#define CB_GBIND_TITLE_MAX	1024

/** One bound question. */
typedef struct {
	char	*configured;	/* The configured title it was bound for; NULL: not bound. */
	char	*qid;		/* Its questionId. */
	char	*title;		/* Its title when last seen. */
	char	*new_qid;	/* Held: the question of the same title that replaced it; NULL: none. */
} cb_gbind_t;

/** One question of the form, as forms.get lists it (pointers valid for the call). */
typedef struct {
	char const	*qid;
	char const	*title;
} cb_gbind_item_t;

/** The form a binding is resolved against. */
typedef struct {
	char const		*form_id;
	cb_gbind_item_t const	*items;
	size_t			n;
	char const		*titles;	/* The questions' titles, for messages. */
	bool			accept;		/* An admin accepted the hold: take the new question. */
	cb_log_fn_t		log;
	void			*log_ctx;
	bool			dirty;		/* Out: a binding changed and must be saved. */
} cb_gbind_form_t;

typedef enum {
	CB_GBIND_OK = 0,	/* Bound: read cb_gbind_qid(). */
	CB_GBIND_HOLD,		/* The id disappeared; cb_gbind_qid() is the replacement, msg says why to hold. */
	CB_GBIND_ERROR		/* No such question: msg says so. */
} cb_gbind_result_t;

/**
 * cb_gbind_resolve - find question b (configured title want, option the
 * option's name for messages, what "agreement" or "policy version") in the
 * form.  Returns the result; *index is the question's index in f->items
 * (OK, HOLD).
 */
cb_gbind_result_t cb_gbind_resolve(cb_gbind_t *b, cb_gbind_form_t *f, char const *want, char const *what,
				   char const *option, size_t *index, char *msg, size_t msglen);

/** cb_gbind_qid - the questionId to read: the replacement while held, else the bound one (NULL: unbound). */
char const *cb_gbind_qid(cb_gbind_t const *b);

/** cb_gbind_clear - forget b. */
void cb_gbind_clear(cb_gbind_t *b);

/**
 * cb_gbind_load - the bindings saved for form_id at path.  0 loaded, 1 no
 * file (or one for another form: err says so), -1 unusable (err says why);
 * in both latter cases agree and version are left unbound.
 */
int cb_gbind_load(char const *path, char const *form_id, cb_gbind_t *agree, cb_gbind_t *version, char *err,
		  size_t errlen);

/** cb_gbind_save - write the bindings atomically (mode 0600).  0, or -1 with err. */
int cb_gbind_save(char const *path, char const *form_id, cb_gbind_t const *agree, cb_gbind_t const *version,
		  char *err, size_t errlen);

#endif
