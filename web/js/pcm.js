// PCM helpers: 16-bit little-endian mono audio <-> base64 and float samples, and a streaming
// resampler. Pure functions; also imported by the microphone's AudioWorklet.

export const WIRE_RATE = 24000; // PCM16 mono at 24 kHz both ways

export function int16ToBase64(samples) {
  const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

export function base64ToInt16(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length & ~1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = text.charCodeAt(i);
  return new Int16Array(bytes.buffer);
}

export function int16ToFloat32(samples) {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i] / 32768;
  return out;
}

export function float32ToInt16(samples) {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out[i] = s < 0 ? s * 32768 : s * 32767;
  }
  return out;
}

/** Root mean square of float samples, 0..1. */
export function rms(samples) {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}

/** Windowed-sinc low-pass kernel; `cutoff` is a fraction of the sample rate (< 0.5). */
export function lowPassKernel(taps, cutoff) {
  const k = new Float32Array(taps);
  const mid = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1));
    k[i] = sinc * hann;
    sum += k[i];
  }
  for (let i = 0; i < taps; i++) k[i] /= sum;
  return k;
}

/**
 * Streaming resampler: an anti-alias FIR (when going down) then linear interpolation.
 * Feed blocks of any size; the output is continuous across blocks.
 */
export class StreamResampler {
  constructor(fromRate, toRate, taps = 31) {
    this.step = fromRate / toRate;
    this.kernel = fromRate > toRate ? lowPassKernel(taps, (0.45 * toRate) / fromRate) : [1];
    this.history = new Float32Array(this.kernel.length - 1);
    this.pos = 0; // position of the next output sample; index 0 is `prev`
    this.prev = 0;
  }

  process(input) {
    const k = this.kernel;
    const m = k.length - 1;
    const x = new Float32Array(m + input.length);
    x.set(this.history);
    x.set(input, m);
    const filtered = new Float32Array(input.length);
    for (let i = 0; i < input.length; i++) {
      let acc = 0;
      for (let j = 0; j <= m; j++) acc += k[j] * x[i + m - j];
      filtered[i] = acc;
    }
    this.history = x.slice(input.length);
    const n = filtered.length;
    const out = new Float32Array(Math.ceil((n - this.pos) / this.step) + 1);
    let count = 0;
    let pos = this.pos;
    while (pos < n) {
      const i = Math.floor(pos);
      const f = pos - i;
      const a = i === 0 ? this.prev : filtered[i - 1];
      out[count++] = a + (filtered[i] - a) * f;
      pos += this.step;
    }
    this.pos = pos - n;
    if (n) this.prev = filtered[n - 1];
    return out.subarray(0, count);
  }
}
