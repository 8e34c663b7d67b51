import type { NextConfig } from "next";

// A static export served by the control plane's FastAPI app at /console (one process: API + UI).
const config: NextConfig = {
  output: "export",
  basePath: "/console",
  trailingSlash: true, // /console/robot/ -> robot/index.html, which StaticFiles(html=True) serves
  images: { unoptimized: true },
  reactStrictMode: true,
};

export default config;
