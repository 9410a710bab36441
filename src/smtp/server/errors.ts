// Typed SMTP failures: every error carries the reply the client gets (DESIGN.md "Rules of the house").
export { SmtpError } from '../wire/reply.js';
