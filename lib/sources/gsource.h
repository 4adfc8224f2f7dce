/*
 * gsource.h - the two Google acknowledgement sources (cb_source_t, see
 * source.h): a Google Form read through the Forms API v1, and the form's
 * response spreadsheet read through the Sheets API v4.
 *
 * Each constructor checks its configuration, reads the service account's
 * key (google.h) and returns a source whose fetch() runs on the sync
 * thread.  No network traffic happens in the constructor.  Configuration
 * strings are copied: the conf structs need not outlive the call.
 *
 * Records that cannot be used (no email address, an unparseable timestamp,
 * a formula or odd text in a cell, a foreign domain, a duplicate) are
 * reported through src->log with where they came from and skipped; the
 * rest are used (greport.h says how they are logged).
 *
 * Needs curl_global_init() before the first fetch (see http.h).
 */
#ifndef CETBYOD_SOURCES_GSOURCE_H
#define CETBYOD_SOURCES_GSOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strlist.h"
#include "sources/google.h"
#include "sources/http.h"
#include "sources/source.h"

/** The forms { } section. */
typedef struct {
	char const	*form_id;			/* Required: the id in the form's edit URL. */
	char const	*agreement_question;		/* Required: title of the agreement question. */
	cb_strlist_t	agree_values;			/* Answers that count as agreement (case-insensitive); n = 0: "I agree". */
	char const	*policy_version_question;	/* Title of the policy-version question; NULL/"": none. */
	cb_strlist_t	allowed_domains;		/* Email domains accepted; n = 0: any. */
	uint32_t	page_size;			/* responses.list pageSize, 1..5000; 0: 2500. */
	bool		allow_unverified_email;		/* Accept a form whose emails are typed in, not verified. */
	char const	*binding_path;			/* File keeping the questions' ids (gbind.h); NULL/"": not kept. */
} cb_gsource_forms_conf_t;

/** The sheets { } section. */
typedef struct {
	char const	*spreadsheet_id;		/* Required: the id in the spreadsheet's URL. */
	char const	*range;				/* A1 range with the header row first; NULL/"": every column of the first tab. */
	char const	*timestamp_column;		/* Header of the submission time; NULL/"": "Timestamp". */
	char const	*email_column;			/* Header of the email; NULL/"": "Email address". */
	char const	*agreement_column;		/* Required: header of the agreement question. */
	cb_strlist_t	agree_values;			/* As for forms; n = 0: "I agree". */
	char const	*policy_version_column;		/* NULL/"": none. */
	char const	*revoked_column;		/* NULL/"": "Revoked" (used only when the sheet has it). */
	cb_strlist_t	revoked_values;			/* Values meaning revoked; n = 0: yes, y, true, revoked, withdrawn, x. */
	cb_strlist_t	allowed_domains;		/* n = 0: any. */
	uint32_t	rows_per_request;		/* Rows read per values.get; 0: 10 000. */
	char const	*form_id;			/* The form feeding the sheet, checked to collect verified
							 * addresses; NULL/"": none (then allow_unverified_email is required). */
	bool		allow_unverified_email;		/* Accept a sheet whose form lets people type any address. */
} cb_gsource_sheets_conf_t;

/**
 * cb_gsource_forms_new - a Forms API source (source_forms.c).  Returns NULL
 * and writes to err a sentence naming the option at fault ("forms.form_id is
 * required") or the key-file problem.  log/log_ctx receive record problems
 * and progress.
 */
cb_source_t *cb_gsource_forms_new(cb_gsource_forms_conf_t const *conf, cb_google_conf_t const *google,
				  cb_log_fn_t log, void *log_ctx, char *err, size_t errlen);

/** cb_gsource_sheets_new - a Sheets API source (source_sheets.c); as cb_gsource_forms_new. */
cb_source_t *cb_gsource_sheets_new(cb_gsource_sheets_conf_t const *conf, cb_google_conf_t const *google,
				   cb_log_fn_t log, void *log_ctx, char *err, size_t errlen);

/** cb_gsource_http - the HTTP client of a Google source (tests: cb_http_set_fake). */
cb_http_t *cb_gsource_http(cb_source_t *src);

/** cb_gsource_client_email - the service account a Google source reads as. */
char const *cb_gsource_client_email(cb_source_t const *src);

/*
 *	Shared by the two sources (gsource.c).
 */

/** cb_gsource_note_retry - after a fetch that answered rc: set src->retry_why from the Google client. */
void cb_gsource_note_retry(cb_source_t *src, cb_source_result_t rc);

/** cb_gsource_domain_allowed - email's domain is in domains (exactly, ignoring case), or domains is empty. */
bool cb_gsource_domain_allowed(cb_strlist_t const *domains, char const *email);

/** cb_gsource_cell_problem - why a text cell cannot be trusted ("formula", "error value #REF!"), or NULL. */
char const *cb_gsource_cell_problem(char const *s);

/**
 * cb_gsource_agrees - the one agreement rule of both sources: an answer
 * agrees when it is one of agree (trimmed, ignoring case) or, for a
 * multi-choice (checkbox) question, when any of its ticked choices is.  The
 * Forms API gives each ticked choice as its own answer (joined = false, and
 * the caller asks for each); the response sheet holds them in one cell
 * joined by ", " ("I agree, Other"; joined = true), where a choice is found
 * at the cell's start or end or between ", " separators, so an agree_value
 * that itself holds a comma still matches.
 */
bool cb_gsource_agrees(cb_strlist_t const *agree, char const *answer, size_t len, bool joined);

/**
 * cb_gsource_check_email_collection - refuse a form (a forms.get answer)
 * whose settings.emailCollectionType is DO_NOT_COLLECT, or RESPONDER_INPUT
 * (respondents type any address) unless allow_unverified.  section names the
 * option in the message ("forms" -> forms.allow_unverified_email).  An answer
 * without the setting (older API revisions) passes.  CB_FETCH_OK or
 * CB_FETCH_ERROR with err explaining what to change.
 */
cb_source_result_t cb_gsource_check_email_collection(json_object *form, char const *form_id, bool allow_unverified,
						     char const *section, char *err, size_t errlen);

#endif
