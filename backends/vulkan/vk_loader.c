/*
** vk_loader.c -- the Vulkan loader, found at run time, and one instance.
**
** Every device and every probe gets its own instance and its own dlopen
** reference, so the plugin keeps no mutable global state: the function
** pointers live in the vk_instance (and the device's in the vk_device),
** never in globals.
**
** The drivers the loader brings in with an instance stay in the process
** once loaded (pin_new_objects). The loader would unload them with every
** instance and load them again with the next, which for Mesa's lavapipe
** means LLVM each time, and a driver is not always clean to unload:
** lavapipe leaves memory from a one-time initialiser behind.
*/
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_NODELETE, RTLD_NOLOAD */

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_device.h"

/* The newest API this plugin asks for; the shaders need 1.2. */
#define VK_PLUGIN_API VK_API_VERSION_1_3
#define VK_PLUGIN_MIN_API VK_API_VERSION_1_2

const char *vk_result_name(VkResult r, char *buf)
{
    switch (r) {
#define NAME(x) case x: return #x;
    NAME(VK_SUCCESS) NAME(VK_NOT_READY) NAME(VK_TIMEOUT) NAME(VK_INCOMPLETE)
    NAME(VK_ERROR_OUT_OF_HOST_MEMORY) NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    NAME(VK_ERROR_INITIALIZATION_FAILED) NAME(VK_ERROR_DEVICE_LOST)
    NAME(VK_ERROR_MEMORY_MAP_FAILED) NAME(VK_ERROR_LAYER_NOT_PRESENT)
    NAME(VK_ERROR_EXTENSION_NOT_PRESENT) NAME(VK_ERROR_FEATURE_NOT_PRESENT)
    NAME(VK_ERROR_INCOMPATIBLE_DRIVER) NAME(VK_ERROR_TOO_MANY_OBJECTS)
    NAME(VK_ERROR_FORMAT_NOT_SUPPORTED) NAME(VK_ERROR_FRAGMENTED_POOL)
    NAME(VK_ERROR_UNKNOWN) NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
    NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE) NAME(VK_ERROR_FRAGMENTATION)
    NAME(VK_PIPELINE_COMPILE_REQUIRED)
#undef NAME
    default:
        snprintf(buf, 16, "VkResult %d", (int)r);
        return buf;
    }
}

/* "1.3.230" */
static void version_string(uint32_t v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u", VK_API_VERSION_MAJOR(v),
             VK_API_VERSION_MINOR(v), VK_API_VERSION_PATCH(v));
}

/* The shared objects loaded now, by name (a driver loaded later is one
** not in this list). */
#define MAX_OBJECTS 512
typedef struct loaded_objects {
    char names[MAX_OBJECTS][128];
    int n;
} loaded_objects;

static int add_object(struct dl_phdr_info *info, size_t size, void *user)
{
    loaded_objects *objs = user;
    (void)size;
    if (info->dlpi_name && info->dlpi_name[0] && objs->n < MAX_OBJECTS)
        snprintf(objs->names[objs->n++], sizeof objs->names[0], "%s", info->dlpi_name);
    return 0;
}

static bool was_loaded(const loaded_objects *before, const char *name)
{
    for (int i = 0; i < before->n; i++)
        if (strcmp(before->names[i], name) == 0)
            return true;
    return false;
}

/* Keep every object loaded since `before` (NULL: out of memory, then
** nothing is pinned) for the life of the process. */
static void pin_new_objects(const loaded_objects *before)
{
    loaded_objects *now = before ? calloc(1, sizeof *now) : NULL;
    if (!now)
        return;
    dl_iterate_phdr(add_object, now);
    for (int i = 0; i < now->n; i++)
        if (!was_loaded(before, now->names[i]))
            (void)dlopen(now->names[i], RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    free(now);
}

/* Leave the instance unopened and say why at debug level: not an error. */
static slm_status_t absent(vk_instance *inst, const char *why)
{
    vk_log(SLM_LOG_DEBUG, "vulkan: no devices: %s", why);
    vk_instance_close(inst);
    return SLM_OK;
}

slm_status_t vk_instance_open(vk_instance *inst)
{
    memset(inst, 0, sizeof *inst);
    inst->lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!inst->lib)
        return absent(inst, "libvulkan.so.1 cannot be loaded");
    /* POSIX allows the object-to-function pointer conversion through memcpy. */
    void *sym = dlsym(inst->lib, "vkGetInstanceProcAddr");
    if (!sym)
        return absent(inst, "libvulkan.so.1 has no vkGetInstanceProcAddr");
    memcpy(&inst->vkGetInstanceProcAddr, &sym, sizeof sym);

#define LOAD_GLOBAL(name)                                                    \
    PFN_##name name = (PFN_##name)inst->vkGetInstanceProcAddr(VK_NULL_HANDLE, #name);
    VK_GLOBAL_FNS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
    if (!vkCreateInstance)
        return absent(inst, "the loader has no vkCreateInstance");
    /* A 1.0 loader has no vkEnumerateInstanceVersion and cannot give 1.2. */
    uint32_t loader_api = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion &&
        vkEnumerateInstanceVersion(&loader_api) != VK_SUCCESS)
        loader_api = VK_API_VERSION_1_0;
    if (loader_api < VK_PLUGIN_MIN_API) {
        char v[32], msg[96];
        version_string(loader_api, v, sizeof v);
        snprintf(msg, sizeof msg, "the loader offers Vulkan %s, not 1.2", v);
        return absent(inst, msg);
    }
    inst->api_version = loader_api < VK_PLUGIN_API ? loader_api : VK_PLUGIN_API;

    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "slm",
        .pEngineName = "slm",
        .apiVersion = inst->api_version,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
    };
    loaded_objects *before = calloc(1, sizeof *before);
    if (before)
        dl_iterate_phdr(add_object, before);
    VkResult r = vkCreateInstance(&ci, NULL, &inst->instance);
    pin_new_objects(before);
    free(before);
    if (r != VK_SUCCESS) {
        char buf[16], msg[96];
        inst->instance = VK_NULL_HANDLE;
        snprintf(msg, sizeof msg, "vkCreateInstance: %s", vk_result_name(r, buf));
        return absent(inst, msg);
    }

#define LOAD_INSTANCE(name)                                                  \
    inst->name = (PFN_##name)inst->vkGetInstanceProcAddr(inst->instance, #name); \
    if (!inst->name) {                                                       \
        inst->vkDestroyInstance = (PFN_vkDestroyInstance)                    \
            inst->vkGetInstanceProcAddr(inst->instance, "vkDestroyInstance"); \
        return absent(inst, "the instance lacks " #name);                    \
    }
    VK_INSTANCE_FNS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
    return SLM_OK;
}

void vk_instance_close(vk_instance *inst)
{
    if (inst->instance && inst->vkDestroyInstance)
        inst->vkDestroyInstance(inst->instance, NULL);
    if (inst->lib)
        dlclose(inst->lib);
    memset(inst, 0, sizeof *inst);
}
