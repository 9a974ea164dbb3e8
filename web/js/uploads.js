// Documents for Leonardo: files dropped on the page (or chosen) are uploaded to
// POST /v1/documents one by one, each with its upload progress, then how many passages the
// server made of it, or why it was refused.

export class DocumentUploads {
  /** list: the element the uploads are listed in; base: the server's origin; headers(): auth. */
  constructor(list, { base = "", headers = () => ({}) } = {}) {
    this.list = list;
    this.base = base.replace(/\/$/, "");
    this.headers = headers;
    this.queue = Promise.resolve();
    this.results = [];
  }

  /** Lets files be dropped anywhere on `target`. */
  acceptDrops(target) {
    target.addEventListener("dragover", (e) => {
      if (![...(e.dataTransfer?.types || [])].includes("Files")) return;
      e.preventDefault();
      target.classList.add("dropping");
    });
    target.addEventListener("dragleave", (e) => {
      if (e.target === target || !target.contains(e.relatedTarget)) target.classList.remove("dropping");
    });
    target.addEventListener("drop", (e) => {
      e.preventDefault();
      target.classList.remove("dropping");
      this.add(e.dataTransfer?.files || []);
    });
  }

  /** Uploads each file after the ones before it. */
  add(files) {
    for (const file of files) {
      const row = this.row(file.name);
      this.queue = this.queue.then(() => this.upload(file, row));
    }
    return this.queue;
  }

  row(name) {
    const li = document.createElement("li");
    li.className = "upload";
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = "waiting";
    li.append(label, bar, status);
    this.list.hidden = false;
    this.list.append(li);
    return { li, bar, status };
  }

  upload(file, { li, bar, status }) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.base}/v1/documents`);
      for (const [k, v] of Object.entries(this.headers())) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        bar.value = e.loaded / e.total;
        status.textContent = `${Math.round((100 * e.loaded) / e.total)}%`;
      };
      xhr.upload.onload = () => {
        bar.removeAttribute("value"); // the server reads and indexes it: no figure for that
        status.textContent = "reading…";
      };
      const finish = (ok, text, body = null) => {
        li.classList.add(ok ? "done" : "failed");
        bar.max = 1;
        bar.value = ok ? 1 : 0;
        status.textContent = text;
        this.results.push({ name: file.name, ok, status: xhr.status, body });
        resolve();
      };
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // not JSON: the status says enough
        }
        if (xhr.status === 200 || xhr.status === 201) {
          const same = body?.status === "unchanged" ? ", unchanged" : "";
          finish(true, `${body?.chunks ?? "?"} passages${same}`, body);
        } else {
          finish(false, body?.error?.message || body?.detail || `HTTP ${xhr.status}`, body);
        }
      };
      xhr.onerror = () => finish(false, "the server could not be reached");
      const form = new FormData();
      form.append("file", file, file.name);
      status.textContent = "0%";
      xhr.send(form);
    });
  }
}
