// What went wrong, and what to do about it, in words for the person at the page.

export function describe(kind, detail = "") {
  const here = `${location.protocol}//${location.host}`;
  switch (kind) {
    case "insecure":
      return {
        title: "The microphone needs a secure page",
        advice: `Browsers only give the microphone to https:// pages or to localhost. Open this page over HTTPS (start the server with --certfile and --keyfile; see the README's "Web client"), or on the server machine at http://localhost:8000. You can still type below.`,
      };
    case "denied":
      return {
        title: "Microphone access is blocked",
        advice:
          "Allow the microphone for this site (the icon at the left of the address bar), then press Connect again. You can still type below.",
      };
    case "missing":
      return {
        title: "No microphone found",
        advice:
          "Plug in a microphone or pick another one in the list, then press Connect again. You can still type below.",
      };
    case "busy":
      return {
        title: "The microphone is in use",
        advice: "Another program holds the microphone. Close it, then press Connect again.",
      };
    case "unreachable":
      return {
        title: "Cannot reach the ZenGlow server",
        advice: `Nothing answered at ${detail || here}. Check that the server is running (zenglow serve) and that this address is right, then press Connect again.`,
      };
    case "refused":
      return {
        title: "The server is busy",
        advice: `${detail ? `${detail}. ` : ""}Every conversation slot is taken; try again in a minute, or raise server.max_sessions.`,
      };
    case "lost":
      return {
        title: "The connection was lost",
        advice: `The server closed the connection${detail ? ` (${detail})` : ""}. Press Connect to start again.`,
      };
    case "auth":
      return {
        title: "This server needs an API key",
        advice: `${detail ? `${detail}. ` : ""}Press Connect and enter a key from the server's auth.api_keys; it is kept in this browser.`,
      };
    case "kiosk-key":
      return {
        title: "This kiosk needs an API key",
        advice: `${detail ? `${detail}. ` : ""}Open it as ${here}/kiosk#key=YOUR_KEY (the key stays on this screen).`,
      };
    case "misdirected":
      return {
        title: "That server is not allowed",
        advice: `This page will not send the microphone to ${detail}: it is not this page's server, and the server does not list it in server.allowed_origins.`,
      };
    default:
      return { title: "Something went wrong", advice: detail || "Press Connect to try again." };
  }
}
