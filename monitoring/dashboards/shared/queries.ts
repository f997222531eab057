// Queries more than one dashboard shows.
import { APP, rate } from './labels.js';

/**
 * Share of the selected apps' sends the server failed: answered IM_UNAVAILABLE (backend trouble
 * or overload, shed included) out of all sends, accepted or refused. The send-success SLO's bad
 * events over its events.
 */
export const SERVER_FAILED_SENDS = `sum(${rate('imcloud_logic_send_errors_total', `code="IM_UNAVAILABLE", ${APP}`)}) / (sum(${rate('imcloud_logic_sends_total', APP)}) + sum(${rate('imcloud_logic_send_errors_total', APP)}))`;
