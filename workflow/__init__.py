"""Order lifecycle rules: vocabulary, required documents, checks, guards and transitions.

Pure functions (SPEC §3–4): no database, no Flask. They read duck-typed objects with the
attribute names of ``models`` (an ``Order`` and its ``company``, an iterable of ``Document``,
an ``Operator`` with ``has_role``, an ``AE`` with ``four_eyes``), so tests can pass
``SimpleNamespace`` objects and views can pass rows.

Every action is guarded by a list of conditions (``Check``). The guard of an action is the
list of the failed checks' reasons, and the order file's "what is missing" panel shows the
same checks, so the two can never disagree. Transitions re-run the guard and return the new
``(phase, substate)``; writing it, in one transaction with its audit event, is the caller's job.

The rules live in the submodules below; callers use them as ``workflow.X``, re-exported here.
"""
from workflow.vocabulary import (
    PROCESS_GENERATION, PROCESS_RENEWAL, PROCESS_REVOCATION, PROCESSES, ISSUING_PROCESSES,
    SUPPORTED_PROCESSES, PHASE_ENTRY, PHASE_VALIDATION,
    PHASE_GENERATION, PHASE_HANDOVER, PHASE_DONE, PHASE_CANCELLED, PHASES, SUBSTATE_TO_CHECK,
    SUBSTATE_IN_SIGNATURE, SUBSTATE_TO_VALIDATE, SUBSTATE_ON_HOLD, SUBSTATE_TO_REVOKE, SUBSTATES, SENT_FOR_SIGNATURE_SUBSTATES,
    FILTER_TO_GENERATE, SUBSTATE_FILTERS, ORDER_TYPE_DEMATERIALISED, ORDER_TYPE_PAPER, ORDER_TYPES,
    ORDER_TYPE_TITLES, ID_DOC_TYPES, CATEGORY_CONTRACTUAL, CATEGORY_SUPPORTING,
    DOCUMENT_CATEGORIES, DocumentKind, DOCUMENT_KINDS, STATUS_IMPORTED, STATUS_NOT_IMPORTED,
    STATUS_UNSIGNED, STATUS_SIGNED, DOCUMENT_STATUSES, COMPLETE_STATUS, MISSING_STATUS, ROLE_AEA,
    ROLE_AET, STEP_SEND_FOR_SIGNATURE, STEP_VALIDATE, STEP_GENERATE, STEP_HAND_OVER, STEP_REVOKE, STEPS,
    label,
    document_kind_label, substate_filter)
from workflow.identifiers import (
    otp_contact_problem, normalize_otp_contact, normalize_id_number, id_document_problem,
    email_problem, normalize_email, phone_problem,
    SIREN_ICD_PREFIX, normalize_siren, siren_problem, format_siren, COMMENT_MAX, comment_problem,
    checked_comment)
from workflow.documents import (
    has_mandataire, required_document_kinds, current_documents, DocumentRow, document_rows,
    document_expired, expiry_date_problem, contractual_kinds)
from workflow.lifecycle import (
    compute_substate, progress_of, progress_substate, sent_for_signature, state_columns,
    is_validated, is_read_only, next_step, shows_requester_change)
from workflow.conditions import DRAFT_PROBLEM, submitted_check
from workflow.ordering import MEDIA
from workflow.checks import (
    Check, failed_reasons, Refused, State)
from workflow.guards import (
    send_for_signature_checks, all_signed_checks, validation_checks, generation_checks,
    handover_checks, cancel_checks, send_for_signature_blockers, all_signed_blockers,
    validation_blockers, generation_blockers, handover_blockers, cancel_blockers,
    next_step_checklist, document_verification_checks, document_verification_blockers,
    document_import_blockers, hold_checks, hold_blockers, resume_checks, resume_blockers,
    refusal_checks, validation_flags_checks, validation_flags_blockers)
from workflow.transitions import (
    after_submission, after_send_for_signature, after_all_signed, after_validation,
    after_generation, after_handover_activated, cancel, after_refusal)
from workflow.signatures import (
    SIGNER_HOLDER, SIGNER_LEGAL_REPRESENTATIVE, SIGNER_MANDATAIRE, SIGNER_ROLES, SIGNATURE_SENT,
    SIGNATURE_OPENED, SIGNATURE_SIGNED, SIGNATURE_DECLINED, SIGNATURE_EXPIRED, SIGNATURE_CANCELLED,
    SIGNATURE_STATES, OPEN_SIGNATURE_STATES, company_signer, document_signers, signers_documents,
    document_fully_signed, signature_state, signer_contact_problems, signing_checks,
    signing_blockers, signature_followup_checks, signature_followup_blockers,
    signature_cancel_checks, after_signature_cancelled)
from workflow.certificates import (
    generation_start_checks, generation_start_blockers, delivery_checks, delivery_blockers,
    activation_checks, activation_blockers, after_activation, holder_revocation_checks,
    holder_revocation_blockers)
from workflow.requester import (
    missing_documents, refused_documents, unsigned_documents, requester_tasks,
    REQUESTER_PHASE_TEXT, REQUESTER_SUBSTATE_TEXT, requester_state_text, requester_change_problem,
    after_requester_change)
from workflow.handling import (
    HANDLING_ROLES, handling_role, take_checks, assign_checks, release_checks, take_blockers,
    assign_blockers, release_blockers)
from workflow.revocation import (
    REVOCATION_CHOICES, SUSPENDABLE_CHOICES, CHOICE_LOST, REVOCATION_ASKED_VIA, ASKED_VIA_FOLLOWUP,
    ASKED_VIA_HOLDER, REVOCATION_TARGET, choice_label, choice_reason, revocation_deadline,
    revocation_late, request_checks, request_blockers, request_form_problems, after_request,
    revoke_request_checks, revoke_request_blockers, after_revoke_request, reject_request_checks,
    reject_request_blockers, after_reject_request, revoke_step_checks)
