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
    default:
      return { title: "Something went wrong", advice: detail || "Press Connect to try again." };
  }
}
