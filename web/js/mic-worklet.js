// AudioWorklet: microphone -> 24 kHz PCM16 blocks of 40 ms, with their input level.
import { StreamResampler, WIRE_RATE, float32ToInt16, rms } from "./pcm.js";

const BLOCK = (WIRE_RATE * 40) / 1000;

class MicCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new StreamResampler(sampleRate, WIRE_RATE);
    this.block = new Float32Array(BLOCK);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const samples = this.resampler.process(channel);
    let i = 0;
    while (i < samples.length) {
      const n = Math.min(BLOCK - this.filled, samples.length - i);
      this.block.set(samples.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
      if (this.filled === BLOCK) {
        const pcm = float32ToInt16(this.block);
        this.port.postMessage({ pcm, level: rms(this.block) }, [pcm.buffer]);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("zenglow-mic", MicCapture);
