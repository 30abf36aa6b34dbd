/**
 * Looks for a WebGPU adapter: the host's `navigator.gpu` where there is one, else the `webgpu`
 * package (Dawn's Node binding, an optional dependency). Its absence, or a machine with no
 * adapter, is an answer ("none found" with the reason), not an error; the search gives up after a
 * few seconds so a stuck driver cannot hold the probe.
 */

export interface WebGpuInfo {
  found: boolean;
  /** Why none was found. */
  reason?: string;
  /** Where the adapter came from: 'navigator.gpu' or the 'webgpu' package. */
  source?: string;
  adapter?: { vendor: string; architecture: string; device: string; description: string };
  limits?: Record<string, number>;
  features?: string[];
}

interface GpuAdapterLike {
  info?: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>>;
  requestAdapterInfo?: () => Promise<
    Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>>
  >;
  limits: object;
  features: Iterable<string>;
}

interface GpuLike {
  requestAdapter(options?: object): Promise<GpuAdapterLike | null>;
}

const PACKAGE = 'webgpu';
const TIMEOUT_MS = 5000;

export async function detectWebGpu(): Promise<WebGpuInfo> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<WebGpuInfo>((resolve) => {
    timer = setTimeout(
      () => resolve({ found: false, reason: `no adapter answered within ${TIMEOUT_MS / 1000} s` }),
      TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([search(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function search(): Promise<WebGpuInfo> {
  const navigatorGpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (navigatorGpu) return describe(navigatorGpu, 'navigator.gpu');
  let binding: { create(flags: string[]): GpuLike };
  try {
    // A variable specifier: the package is optional and has no types here.
    const specifier: string = PACKAGE;
    binding = (await import(specifier)) as typeof binding;
  } catch {
    return {
      found: false,
      reason: `no navigator.gpu, and the optional '${PACKAGE}' package (Dawn) is not installed`,
    };
  }
  // Without a display, Mesa's EGL must be told to work surfaceless, or OpenGL ES finds no device.
  if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) process.env.EGL_PLATFORM ??= 'surfaceless';
  const reasons: string[] = [];
  for (const attempt of DAWN_BACKENDS) {
    try {
      const found = await describe(
        binding.create(attempt.flags),
        `the '${PACKAGE}' package (${attempt.label})`,
        attempt.options,
      );
      if (found.found) return found;
      reasons.push(found.reason!);
    } catch (error) {
      reasons.push(`${attempt.label}: ${(error as Error).message}`);
    }
  }
  return { found: false, reason: reasons.join('; ') };
}

/**
 * Dawn's native backend first (Vulkan, Metal or D3D12); then OpenGL ES in compatibility mode,
 * which is how Mesa's software rasterizer is reached where the Vulkan driver is too old for Dawn.
 */
const DAWN_BACKENDS: { label: string; flags: string[]; options: object }[] = [
  { label: 'native backend', flags: [], options: { powerPreference: 'high-performance' } },
  {
    label: 'OpenGL ES, compatibility',
    flags: ['backend=opengles'],
    options: { featureLevel: 'compatibility' },
  },
];

async function describe(gpu: GpuLike, source: string, options: object = {}): Promise<WebGpuInfo> {
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) return { found: false, reason: `${source} offers no adapter (no GPU or no driver)`, source };
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
  const limits: Record<string, number> = {};
  // WebGPU's limits are getters on the prototype, which for...in walks.
  for (const key in adapter.limits) {
    const value = (adapter.limits as Record<string, unknown>)[key];
    if (typeof value === 'number') limits[key] = value;
  }
  return {
    found: true,
    source,
    adapter: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    },
    limits,
    features: [...adapter.features].sort(),
  };
}
