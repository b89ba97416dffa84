package gomlx

import "fmt"

// pluginHelp says how to provide a PJRT plugin for device.
func pluginHelp(device string) string {
	return fmt.Sprintf("provide the PJRT plugin with gomlx.WithPJRTPlugin(\"/abs/path/pjrt_c_api_%[1]s_plugin.so\"), "+
		"$%[2]s=/abs/path/pjrt_c_api_%[1]s_plugin.so, or a directory holding it in $PJRT_PLUGIN_LIBRARY_PATH "+
		"(for CUDA the plugin ships in the jax-cuda12-pjrt wheel; the CUDA libraries must be on the library path)",
		device, PluginEnv)
}
