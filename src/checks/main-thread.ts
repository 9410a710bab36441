// The bounds under which per-message checks and signing run on the main thread instead of the
// worker pool (docs/checks.md "Worker pool"): a round trip to a worker cost more than the work
// for a small message, and within these bounds no message holds the event loop for long.

/**
 * Largest message handled on the main thread: the lean DKIM signer is linear, about 0.3 ms for a
 * 4 KB message with an RSA-2048 and an Ed25519 key (the RSA signature most of it), and at most a
 * millisecond or two more at this size; an unsigned message's verification reads only its header.
 */
export const MAIN_THREAD_MESSAGE_MAX = 64 * 1024;

/**
 * ... whose header section is at most this long. The header costs about 1.5 µs a field: 64 KiB of
 * 9,000 short fields (smtp.max_header_lines allows 10,000) took 14 ms, too long for the event
 * loop; 16 KiB bounds it near 4 ms, and a usual header (a few KB, even forwarded mail's) fits.
 */
export const MAIN_THREAD_HEADER_MAX = 16 * 1024;
